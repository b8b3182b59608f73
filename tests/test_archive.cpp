// Archive jobs: many inputs (a folder, @lists, several --input) through one scheduler. Every good
// input is written at its relative path under the output folder and passes the usual checks; a
// bad input is named with its reason and the job ends with exit code 4; finished outputs are
// skipped on the next run; a job killed half way resumes.
#include <regex>

#include <catch2/catch.hpp>

#include "support.h"

using namespace vidscore::test;

namespace {

struct Clip {
  const char* name;
  const char* args;  // ffmpeg arguments making it
  int width, height;
  bool audio;
};

// Six clips of different sizes and codecs (one of them corrupt), plus files that are not video.
const Clip kClips[] = {
    {"a.mp4", "-f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -f lavfi -i "
              "sine=frequency=400:duration=2 -c:v libx264 -g 10 -c:a aac", 160, 120, true},
    {"sub/b.mkv", "-f lavfi -i testsrc2=size=176x144:rate=30:duration=1.5 -c:v mpeg4", 176, 144,
     false},
    {"sub/deeper/c.webm", "-f lavfi -i testsrc2=size=320x180:rate=25:duration=3 -c:v libvpx-vp9",
     320, 180, false},
    {"d.mov", "-f lavfi -i testsrc2=size=128x96:rate=24:duration=2 -c:v libx264 -bf 3 -g 12", 128,
     96, false},
    {"e.ts", "-f lavfi -i testsrc2=size=192x108:rate=25:duration=2 -f lavfi -i "
             "sine=frequency=900:duration=2 -c:v mpeg2video -c:a mp2", 192, 108, true},
};

std::string make_archive(const TempDir& dir) {
  const std::string root = dir.path("archive");
  run("mkdir -p " + quote(root + "/sub/deeper"));
  for (const Clip& c : kClips) ffmpeg(std::string(c.args) + " " + quote(root + "/" + c.name));
  // The sixth: a cut MP4 (no moov atom), which FFmpeg cannot open.
  run("head -c 20000 " + quote(root + "/a.mp4") + " > " + quote(root + "/sub/cut.mp4"));
  run("echo 'not a video' > " + quote(root + "/notes.txt"));
  run("printf '\\x89PNG\\r\\n\\x1a\\n' > " + quote(root + "/cover.png"));
  return root;
}

std::string output_of(const std::string& out_dir, const std::string& name) {
  std::string rel = name;
  return out_dir + "/" + rel.substr(0, rel.rfind('.')) + ".mp4";
}

void check_good_outputs(const std::string& root, const std::string& out_dir) {
  for (const Clip& c : kClips) {
    INFO(c.name);
    const std::string out = output_of(out_dir, c.name);
    REQUIRE(file_exists(out));
    check_output(root + "/" + c.name, out, c.audio);
    VideoProbe p = probe_video(out);
    CHECK(p.width == c.width);
    CHECK(p.height == c.height);
  }
}

int input_lines(const std::string& output, const std::string& what) {
  std::regex re("vidscore: \\[[0-9]+/[0-9]+\\] [^\\n]*" + what);
  return static_cast<int>(std::distance(
      std::sregex_iterator(output.begin(), output.end(), re), std::sregex_iterator()));
}

}  // namespace

TEST_CASE("a folder of six clips, one corrupt, on 3 ranks", "[mpi][archive][slow]") {
  TempDir dir;
  const std::string root = make_archive(dir);
  const std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  const std::string out = dir.path("out");
  const std::string args = "--model " + quote(model) + " --input " + quote(root) +
                           " --output " + quote(out) + " --threads 1 --progress off";
  auto r = run_vidscore_mpi(3, args);
  INFO(r.output);
  CHECK(r.exit_code == 4);  // done, with failed inputs
  check_good_outputs(root, out);
  CHECK_THAT(r.output, Catch::Contains("vidscore: note: skipped 2 files that FFmpeg does not "
                                       "recognise as video (cover.png, notes.txt)"));
  CHECK_THAT(r.output, Catch::Contains(root + "/sub/cut.mp4: failed: cannot open input " + root +
                                       "/sub/cut.mp4: Invalid data found when processing input"));
  CHECK_THAT(r.output, Catch::Contains("vidscore: done: 5 of 6 inputs written, 0 skipped, 1 failed"));
  CHECK_THAT(r.output, Catch::Contains("vidscore: error: 1 of 6 inputs failed (" + root +
                                       "/sub/cut.mp4); the others were written"));
  CHECK(input_lines(r.output, " -> ") == 5);
  // Nothing for the failed input, no leftovers.
  CHECK_FALSE(file_exists(out + "/sub/cut.mp4"));
  CHECK(run("find " + quote(out) + " -name '*.partial-*' -o -name '*.vidscore-work'").output.empty());
  // The model loaded once per rank, and every rank took part.
  std::smatch m;
  REQUIRE(std::regex_search(r.output, m, std::regex("frames per rank: 0: ([0-9]+) \\([0-9]+ segments\\), "
                                                    "1: ([0-9]+) \\([0-9]+ segments\\), 2: ([0-9]+)")));
  CHECK(std::stoi(m[1]) > 0);
  CHECK(std::stoi(m[2]) > 0);
  CHECK(std::stoi(m[3]) > 0);

  SECTION("the next run skips the finished outputs; --overwrite redoes them") {
    auto again = run_vidscore_mpi(2, args);
    INFO(again.output);
    CHECK(again.exit_code == 4);
    CHECK(input_lines(again.output, "skipped, ") == 5);
    CHECK_THAT(again.output, Catch::Contains("done: 0 of 6 inputs written, 5 skipped, 1 failed"));
    // A list of inputs whose outputs all exist: nothing to do.
    const std::string list = dir.path("good.txt");
    run("printf '# two of them\\n" + root + "/a.mp4\\n\\n" + root + "/d.mov\\n' > " + quote(list));
    auto none = run_vidscore("--model " + quote(model) + " --input @" + quote(list) +
                             " --output " + quote(out) + " --progress off");
    INFO(none.output);
    CHECK(none.exit_code == 0);
    CHECK_THAT(none.output, Catch::Contains("done: 0 of 2 inputs written, 2 skipped, 0 failed"));
    auto redo = run_vidscore("--model " + quote(model) + " --input " + quote(root + "/d.mov") +
                             " --input " + quote(root + "/a.mp4") + " --output " + quote(out) +
                             " --progress off --overwrite");
    INFO(redo.output);
    CHECK(redo.exit_code == 0);
    CHECK_THAT(redo.output, Catch::Contains("[1/2] " + root + "/d.mov -> " + out + "/d.mp4"));
    CHECK_THAT(redo.output, Catch::Contains("done: 2 of 2 inputs written, 0 skipped, 0 failed"));
  }
}

TEST_CASE("archive job errors are caught before any work", "[archive]") {
  TempDir dir;
  const std::string root = dir.path("in");
  run("mkdir -p " + quote(root + "/x") + " " + quote(root + "/y"));
  ffmpeg("-f lavfi -i testsrc2=size=64x48:rate=10:duration=1 -c:v libx264 " +
         quote(root + "/x/clip.mp4"));
  run("cp " + quote(root + "/x/clip.mp4") + " " + quote(root + "/y/clip.mp4"));
  const std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  auto job = [&](const std::string& more) {
    return run_vidscore("--model " + quote(model) + " --progress off " + more);
  };
  SECTION("two inputs that would write the same output") {
    auto r = job("--input " + quote(root + "/x/clip.mp4") + " --input " +
                 quote(root + "/y/clip.mp4") + " --output " + quote(dir.path("out")));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("would write the same output (clip)"));
  }
  SECTION("an output folder inside the input folder") {
    auto r = job("--input " + quote(root) + " --output " + quote(root + "/out"));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("is inside input folder"));
  }
  SECTION("an output that is a file") {
    auto r = job("--input " + quote(root) + " --output " + quote(root + "/x/clip.mp4"));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("is a file; with several inputs"));
  }
  SECTION("an output folder where the inputs are") {
    auto same = job("--input " + quote(root + "/x/clip.mp4") + " --output " + quote(root + "/x") +
                    " --input " + quote(dir.path("elsewhere.mkv")));
    INFO(same.output);
    CHECK(same.exit_code == 1);
    CHECK_THAT(same.output, Catch::Contains("clip.mp4: failed: output " + root +
                                            "/x/clip.mp4 is the input file"));
  }
  SECTION("a missing list") {
    auto r = job("--input @" + quote(dir.path("nothing.txt")) + " --output " + quote(dir.path("o")));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("input list " + dir.path("nothing.txt") + ": cannot open"));
  }
  SECTION("every input failing is exit code 1") {
    run("echo junk > " + quote(dir.path("bad1.mp4")) + "; echo junk > " + quote(dir.path("bad2.mp4")));
    auto r = job("--input " + quote(dir.path("bad1.mp4")) + " --input " +
                 quote(dir.path("bad2.mp4")) + " --output " + quote(dir.path("o")));
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("2 of 2 inputs failed"));
  }
}

TEST_CASE("an archive job killed half way resumes where it stopped", "[mpi][archive][resume][slow]") {
  TempDir dir;
  const std::string root = dir.path("in");
  run("mkdir -p " + quote(root));
  for (int i = 0; i < 4; ++i)
    ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25:duration=4 -f lavfi -i sine=duration=4 "
           "-c:v libx264 -g 25 -c:a aac " + quote(root + "/clip" + std::to_string(i) + ".mp4"));
  const std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  const std::string out = dir.path("out");
  const std::string args = "--model " + quote(model) + " --input " + quote(root) + " --output " +
                           quote(out) + " --segment-frames 25 --threads 1 --progress off";
  // Rank 0 dies after its 5th segment: some clips are written, one is part-way.
  auto killed = run("VIDSCORE_TEST_SIGKILL=0:5 OMPI_ALLOW_RUN_AS_ROOT=1 "
                    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe " +
                    quote(VIDSCORE_BIN) + " " + args + " 2>&1");
  INFO(killed.output);
  REQUIRE(killed.exit_code != 0);
  run("for i in $(seq 100); do pgrep -f " + quote(out) + " >/dev/null || break; sleep 0.1; done");
  auto again = run_vidscore_mpi(2, args);
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  // Whatever the first run finished is skipped or reused, never done again.
  std::smatch m;
  REQUIRE(std::regex_search(again.output, m, std::regex("inputs written, ([0-9]+) skipped")));
  const int skipped = std::stoi(m[1]);
  const bool reused = again.output.find("reused from an earlier run") != std::string::npos;
  CHECK(skipped + (reused ? 1 : 0) >= 1);
  for (int i = 0; i < 4; ++i) {
    const std::string name = "clip" + std::to_string(i) + ".mp4";
    check_output(root + "/" + name, out + "/" + name, true);
  }
  CHECK(run("find " + quote(out) + " -name '*.partial-*' -o -name '*.vidscore-work'").output.empty());
}

TEST_CASE("an input that a rank cannot do fails alone", "[mpi][archive]") {
  TempDir dir;
  const std::string root = dir.path("in");
  run("mkdir -p " + quote(root));
  // The model refuses frames 176 pixels wide: the ranks fail on b.mp4's segments only.
  ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -c:v libx264 -g 10 " +
         quote(root + "/a.mp4"));
  ffmpeg("-f lavfi -i testsrc2=size=176x144:rate=25:duration=2 -c:v libx264 -g 10 " +
         quote(root + "/b.mp4"));
  ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -c:v libx264 -g 10 " +
         quote(root + "/c.mp4"));
  const std::string model = dir.path("picky.ts.pt");
  save_scripted("def forward(self, x):\n"
                "    assert x.shape[3] != 176, 'frames 176 wide are refused'\n    return x\n",
                model);
  const std::string out = dir.path("out");
  auto r = run_vidscore_mpi(3, "--model " + quote(model) + " --input " + quote(root) +
                                   " --output " + quote(out) +
                                   " --segment-frames 10 --threads 1 --progress off");
  INFO(r.output);
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.output, Catch::Contains("/b.mp4: failed: ") &&
                           Catch::Contains("frames 176 wide are refused"));
  CHECK_THAT(r.output, Catch::Contains("done: 2 of 3 inputs written, 0 skipped, 1 failed"));
  check_output(root + "/a.mp4", out + "/a.mp4", false);
  check_output(root + "/c.mp4", out + "/c.mp4", false);
  CHECK_FALSE(file_exists(out + "/b.mp4"));
  CHECK(files_with_prefix(out, "b.mp4.partial").empty());
}
