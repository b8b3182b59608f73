// Bad input: each case exits non-zero with one specific message, and leaves no file under the
// output name (nor a partial file beside it).
#include <fstream>

#include <catch2/catch.hpp>

#include "support.h"

using namespace vidscore::test;

namespace {

struct Fixture {
  TempDir dir;
  std::string clip = dir.path("in.mp4");
  std::string model = dir.path("invert.ts.pt");
  std::string out = dir.path("out.mp4");
  Fixture() {
    ffmpeg("-f lavfi -i testsrc2=size=96x64:rate=25:duration=1 -f lavfi "
           "-i sine=sample_rate=48000:duration=1 -c:v libx264 -c:a aac " + quote(clip));
    save_filter("invert", model);
  }
  CommandResult run_with(const std::string& input, const std::string& model_path) {
    return run_vidscore("--model " + quote(model_path) + " --input " + quote(input) +
                        " --output " + quote(out));
  }
  void expect_failure(const CommandResult& r, int code, const std::string& message) {
    INFO(r.output);
    CHECK(r.exit_code == code);
    CHECK_THAT(r.output, Catch::Contains("vidscore: error: " + message));
    CHECK_FALSE(file_exists(out));
    CHECK(files_with_prefix(dir.path(""), "out.mp4").empty());
  }
};

}  // namespace

TEST_CASE("bad inputs", "[e2e][errors]") {
  Fixture f;
  SECTION("missing input") {
    std::string p = f.dir.path("nope.mp4");
    f.expect_failure(f.run_with(p, f.model), 1,
                     "cannot open input " + p + ": No such file or directory");
  }
  SECTION("a text file named .mp4") {
    std::string p = f.dir.path("text.mp4");
    std::ofstream(p) << "this is not a video\n";
    f.expect_failure(f.run_with(p, f.model), 1,
                     "cannot open input " + p + ": Invalid data found when processing input");
  }
  SECTION("an MP4 truncated to its first 30%") {
    std::string p = f.dir.path("cut.mp4");
    run("head -c $(( $(stat -c %s " + quote(f.clip) + ") * 3 / 10 )) " + quote(f.clip) + " > " +
        quote(p));
    f.expect_failure(f.run_with(p, f.model), 1,
                     "cannot open input " + p + ": Invalid data found when processing input");
  }
  SECTION("an audio-only file") {
    std::string p = f.dir.path("audio.m4a");
    ffmpeg("-f lavfi -i sine=duration=1 -c:a aac " + quote(p));
    f.expect_failure(f.run_with(p, f.model), 1, p + ": no video stream (streams: 0: audio aac)");
  }
  SECTION("output path equal to the input path") {
    auto r = run_vidscore("--model " + quote(f.model) + " --input " + quote(f.clip) +
                          " --output " + quote(f.clip));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("vidscore: error: output " + f.clip +
                                         " is the input file; vidscore never overwrites its input"));
    CHECK(probe_video(f.clip).frame_times.size() == 25);  // untouched
  }
  SECTION("output folder missing") {
    auto r = run_vidscore("--model " + quote(f.model) + " --input " + quote(f.clip) +
                          " --output " + quote(f.dir.path("no/such/dir/o.mp4")));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("folder " + f.dir.path("no/such/dir") + " does not exist"));
  }
}

TEST_CASE("bad models", "[e2e][errors]") {
  Fixture f;
  SECTION("missing model") {
    std::string m = f.dir.path("nope.ts.pt");
    f.expect_failure(f.run_with(f.clip, m), 2, "model " + m + ": No such file or directory");
  }
  SECTION("no model at all") {
    auto r = run_vidscore("--input " + quote(f.clip) + " --output " + quote(f.out));
    f.expect_failure(r, 2, "no model: set \"model\": {\"path\": ...} in the config or pass --model FILE");
  }
  SECTION("a file that is not TorchScript") {
    std::string m = f.dir.path("junk.ts.pt");
    std::ofstream(m) << "not a model";
    f.expect_failure(f.run_with(f.clip, m), 2, "model " + m + ": not a loadable TorchScript file");
  }
  SECTION("a model whose output shape does not fit the task") {
    std::string m = f.dir.path("classifier.ts.pt");
    save_scripted("def forward(self, x):\n    return x.mean(dim=[2, 3])\n", m);
    f.expect_failure(f.run_with(f.clip, m), 1,
                     "model " + m + ": output does not fit task \"style\": expected a tensor of "
                     "shape [1, 3, H, W], got a tensor of shape [1, 3]");
  }
  SECTION("a model returning a tuple") {
    std::string m = f.dir.path("tuple.ts.pt");
    save_scripted("def forward(self, x):\n    return (x, x)\n", m);
    f.expect_failure(f.run_with(f.clip, m), 1,
                     "model " + m + ": output does not fit task \"style\": expected a [B,3,H,W] "
                     "tensor, got a Tuple");
  }
  SECTION("a model that fails while running reports torch's reason") {
    std::string m = f.dir.path("raises.ts.pt");
    save_scripted("def forward(self, x):\n"
                  "    assert bool(x.mean() < -1.0), 'deliberate failure'\n    return x\n", m);
    auto r = f.run_with(f.clip, m);
    f.expect_failure(r, 1, "model " + m);
    CHECK_THAT(r.output, Catch::Contains("deliberate failure"));
  }
}

TEST_CASE("a run killed with SIGKILL leaves a partial file that the next run removes",
          "[e2e][errors]") {
  TempDir dir;
  std::string clip = dir.path("long.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25:duration=20 -f lavfi -i sine=duration=20 "
         "-c:v libx264 -preset ultrafast -c:a aac " + quote(clip));
  std::string slow = dir.path("slow.ts.pt");
  save_scripted("def forward(self, x):\n    y = x\n    for i in range(400):\n"
                "        y = y * 1.0\n    return y\n", slow);
  std::string out = dir.path("killed.mp4");
  // SIGKILL cannot be caught: the partial file stays behind.
  std::string style_job = quote(VIDSCORE_BIN) + " --progress off --threads 1 --model " +
                          quote(slow) + " --input " + quote(clip) + " --output " + quote(out);
  auto r = run("(" + style_job + ") & pid=$!; for i in $(seq 100); do "
               "ls " + quote(out) + ".partial-* >/dev/null 2>&1 && break; sleep 0.1; done; "
               "sleep 1; kill -9 $pid; wait $pid; echo exit=$?");
  INFO(r.output);
  REQUIRE_THAT(r.output, Catch::Contains("exit=137"));
  CHECK_FALSE(file_exists(out));
  auto names = files_with_prefix(dir.path(""), "killed.mp4.partial-");
  REQUIRE(names.size() == 1);
  const std::string left = dir.path(names[0]);

  SECTION("the next run on the same output removes it, says so, and writes the output") {
    std::string fast = dir.path("invert.ts.pt");
    save_filter("invert", fast);
    auto again = run_vidscore("--progress off --model " + quote(fast) + " --input " +
                              quote(clip) + " --output " + quote(out));
    INFO(again.output);
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("vidscore: note: removed " + left +
                                             ", left by an earlier run that was killed"));
    CHECK(files_with_prefix(dir.path(""), "killed.mp4.partial-").empty());
    CHECK(probe_video(out).frame_times.size() == 500);
  }
  SECTION("a partial file still being written by a live process is refused, not removed") {
    // flock(1) holds the lock the way a running vidscore does.
    auto busy = run("flock -o " + quote(left) + " sh -c " +
                    quote(quote(VIDSCORE_BIN) + " --progress off --model " + quote(slow) +
                          " --input " + quote(clip) + " --output " + quote(out)));
    INFO(busy.output);
    CHECK(busy.exit_code == 1);
    CHECK_THAT(busy.output, Catch::Contains("vidscore: error: output " + out +
                                            " is being written by another running vidscore"));
    CHECK(file_exists(left));
    CHECK_FALSE(file_exists(out));
  }
}
