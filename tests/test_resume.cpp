// Resume: a job that died (a worker rank, rank 0 or mpirun killed with SIGKILL) is run again with
// the same command; it reuses the segments the first run finished (kept in the work folder) and
// writes the same output as a clean run. A changed model or setting starts afresh, with a note.
#include <regex>

#include <catch2/catch.hpp>

#include "support.h"

using namespace vidscore::test;

namespace {

constexpr int kFrames = 300;    // 12 s at 25 fps
constexpr int kSegments = 12;   // of 25 frames: a keyframe every second

struct Setup {
  TempDir dir;
  std::string clip = dir.path("clip.mp4");
  std::string model = dir.path("slow_identity.ts.pt");
  Setup() {
    ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25:duration=12 -f lavfi -i "
           "sine=frequency=500:duration=12 -c:v libx264 -preset ultrafast -g 25 -c:a aac " +
           quote(clip));
    // An identity whose forward takes a while, so that a job is still running half way.
    save_scripted("def forward(self, x):\n    y = x\n    for i in range(300):\n"
                  "        y = y * 1.0\n    return y\n",
                  model);
  }
  std::string args(const std::string& out, const std::string& extra = "") const {
    return "--model " + quote(model) + " --input " + quote(clip) + " --output " + quote(out) +
           " --segment-frames 25 --threads 1 --progress off " + extra;
  }
  std::string work(const std::string& out) const { return out + ".vidscore-work"; }
};

int kept_segments(const std::string& work) {
  if (!file_exists(work)) return 0;
  return static_cast<int>(files_with_prefix(work, "seg-").size());
}

int reused_segments(const std::string& output) {
  std::smatch m;
  std::regex re("in " + std::to_string(kSegments) + " segments \\(([0-9]+) reused from an earlier run\\)");
  if (!std::regex_search(output, m, re)) return 0;
  return std::stoi(m[1]);
}

// Waits until no process of the killed job is left (ranks orphaned by a killed mpirun end on
// their own when they notice).
void wait_for_job_gone(const std::string& out) {
  run("for i in $(seq 200); do pgrep -f " + quote(out) + " >/dev/null || break; sleep 0.1; done");
}

}  // namespace

TEST_CASE("a job killed with SIGKILL half way resumes and writes the same output",
          "[mpi][resume][slow]") {
  Setup s;
  const std::string ref = s.dir.path("clean.mp4");
  auto clean = run_vidscore_mpi(1, s.args(ref, "--no-resume"));
  INFO(clean.output);
  REQUIRE(clean.exit_code == 0);
  CHECK_FALSE(file_exists(s.work(ref)));

  struct Victim {
    const char* name;
    std::string kill;  // how the first run dies
  } victims[] = {
      {"worker rank 1", "VIDSCORE_TEST_SIGKILL=1:3"},
      {"rank 0", "VIDSCORE_TEST_SIGKILL=0:3"},
      {"mpirun", ""},
  };
  for (const Victim& v : victims) {
    DYNAMIC_SECTION(v.name << " killed") {
      const std::string out = s.dir.path("out.mp4");
      const std::string mpirun = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                                 "mpirun -np 3 --oversubscribe " + quote(VIDSCORE_BIN) + " " +
                                 s.args(out);
      CommandResult first;
      if (!v.kill.empty()) {
        first = run(v.kill + " " + mpirun + " 2>&1");
      } else {
        // mpirun itself, once about half the segments are kept.
        first = run("(" + mpirun + ") >/dev/null 2>&1 & pid=$!; for i in $(seq 600); do "
                    "n=$(ls " + quote(s.work(out)) + " 2>/dev/null | grep -c '^seg-'); "
                    "[ \"$n\" -ge 6 ] && break; sleep 0.05; done; kill -9 $pid; wait $pid; "
                    "echo exit=$?; "
                    // Its ranks, orphaned on one node, would go on over shared memory: a lost
                    // node or a cancelled job takes them down too.
                    "pkill -9 -f " + quote(out));
        CHECK_THAT(first.output, Catch::Contains("exit=137"));
      }
      INFO(first.output);
      if (!v.kill.empty()) CHECK(first.exit_code != 0);
      wait_for_job_gone(out);
      CHECK_FALSE(file_exists(out));
      const int kept = kept_segments(s.work(out));
      CHECK(kept >= kSegments / 3);
      CHECK(kept < kSegments);

      auto again = run_vidscore_mpi(3, s.args(out));
      INFO(again.output);
      REQUIRE(again.exit_code == 0);
      CHECK_THAT(again.output, Catch::Contains("vidscore: resuming: " + std::to_string(kept) +
                                               " finished segments kept in " + s.work(out)));
      const int reused = reused_segments(again.output);
      CHECK(reused == kept);
      CHECK(reused >= kSegments / 3);
      CHECK_FALSE(file_exists(s.work(out)));  // removed with the output complete
      CHECK(files_with_prefix(s.dir.path(""), "out.mp4.partial-").empty());
      check_output(s.clip, out, true);
      REQUIRE(probe_video(out).frame_times.size() == kFrames);
      check_no_seams(s.clip, ref, out, 320, 240);
    }
  }
}

TEST_CASE("resume reuses segments on another number of ranks, and not after a change",
          "[mpi][resume][slow]") {
  Setup s;
  const std::string out = s.dir.path("out.mp4");
  // A 1-rank job that dies after its 5th segment: 4 kept.
  auto die = [&](const std::string& extra) {
    auto r = run("VIDSCORE_TEST_SIGKILL=0:5 " + quote(VIDSCORE_BIN) + " " + s.args(out, extra) +
                 " 2>&1");
    INFO(r.output);
    REQUIRE(r.exit_code != 0);
    REQUIRE(kept_segments(s.work(out)) == 4);
  };

  SECTION("another number of ranks cuts the same segments and reuses them") {
    die("");
    auto again = run_vidscore_mpi(2, s.args(out));
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(reused_segments(again.output) == 4);
    check_output(s.clip, out, true);
  }
  SECTION("a changed setting starts afresh") {
    die("");
    auto again = run_vidscore(s.args(out, "--crf 22"));
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK_THAT(again.output,
               Catch::Contains("vidscore: note: work folder " + s.work(out) +
                               " holds 4 segments of a job with a different setting "
                               "(encode.crf); they are not reused, starting afresh"));
    CHECK(reused_segments(again.output) == 0);
    CHECK_THAT(again.output, !Catch::Contains("resuming"));
    check_output(s.clip, out, true);
  }
  SECTION("segments cut by another rule (an earlier vidscore) start afresh") {
    die("");
    const std::string manifest = s.work(out) + "/manifest.json";
    auto edit = run("sed -i 's/\"segment_rule\": [0-9]*/\"segment_rule\": 1/' " +
                    quote(manifest) + " && grep -c '\"segment_rule\": 1' " + quote(manifest));
    REQUIRE(edit.exit_code == 0);
    auto again = run_vidscore(s.args(out));
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("holds 4 segments of a job with segments cut by "
                                             "another rule (an earlier vidscore); they are not "
                                             "reused, starting afresh"));
    CHECK(reused_segments(again.output) == 0);
    check_output(s.clip, out, true);
  }
  SECTION("a rerun that fails before any work (a typo) leaves the kept segments to the next") {
    die("");
    auto typo = run_vidscore(s.args(out, "--preset slwo"));
    INFO(typo.output);
    CHECK(typo.exit_code == 2);
    CHECK(kept_segments(s.work(out)) == 4);
    auto again = run_vidscore(s.args(out));
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(reused_segments(again.output) == 4);
  }
  SECTION("a changed model file starts afresh") {
    die("");
    save_scripted("def forward(self, x):\n    return x * 1.0\n", s.model);
    auto again = run_vidscore(s.args(out));
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("holds 4 segments of a job with a different model "
                                             "file; they are not reused, starting afresh"));
    CHECK(reused_segments(again.output) == 0);
  }
  SECTION("--no-resume keeps nothing") {
    auto r = run("VIDSCORE_TEST_SIGKILL=0:5 " + quote(VIDSCORE_BIN) + " " +
                 s.args(out, "--no-resume") + " 2>&1");
    CHECK(r.exit_code != 0);
    CHECK_FALSE(file_exists(s.work(out)));
  }
  SECTION("a damaged kept segment is done again") {
    die("");
    auto segs = files_with_prefix(s.work(out), "seg-");
    REQUIRE_FALSE(segs.empty());
    run("printf 'garbage' | dd of=" + quote(s.work(out) + "/" + segs[0]) +
        " bs=1 seek=20 conv=notrunc 2>/dev/null");
    auto again = run_vidscore(s.args(out));
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(reused_segments(again.output) == 3);
    CHECK_THAT(again.output, Catch::Contains("is damaged; it is done again"));
    check_output(s.clip, out, true);
  }
}
