// Segments across ranks: both transports, 1-4 ranks, on inputs that are hard to split (many
// keyframes, B-frame pyramids, open GOPs, VFR, AVI without pts). Every output must decode without
// a message, keep every frame with its pts and the audio packets, have strictly increasing dts,
// and match the same job on 1 rank frame by frame (no seam at segment boundaries).
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <regex>

#include <catch2/catch.hpp>

#include "support.h"

using namespace vidscore::test;

namespace {

struct Job {
  CommandResult result;
  std::string out;
};

Job run_job(const TempDir& dir, const std::string& clip, const std::string& model,
            const std::string& transport, int ranks, const std::string& ext = ".mp4",
            const std::string& extra = "") {
  std::string name = std::to_string(std::hash<std::string>{}(clip) % 10000) + "_" + transport +
                     "_" + std::to_string(ranks) + ext;
  Job j;
  j.out = dir.path(name);
  j.result = run_vidscore_mpi(ranks, "--model " + quote(model) + " --input " + quote(clip) +
                                         " --output " + quote(j.out) + " --transport " +
                                         transport + " --segment-frames 12 --batch-size 2 "
                                         "--threads 1 --progress off " + extra);
  return j;
}

// The job's segment count from its "done:" line.
int segments_done(const std::string& output) {
  std::smatch m;
  REQUIRE(std::regex_search(output, m, std::regex("done: [0-9]+ frames in ([0-9]+) segments")));
  return std::stoi(m[1]);
}

int segments_of_rank(const std::string& output, int rank) {
  std::smatch m;
  std::regex re(" " + std::to_string(rank) + ": [0-9]+ \\(([0-9]+) segments\\)");
  REQUIRE(std::regex_search(output, m, re));
  return std::stoi(m[1]);
}

}  // namespace

TEST_CASE("B-frame pyramids and many keyframes: both transports on 1 to 4 ranks", "[mpi][segments]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("pyramid.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=160x96:rate=25:duration=3.2 -f lavfi -i "
         "sine=frequency=600:duration=3.2 -c:v libx264 -g 12 -bf 3 -b_strategy 2 "
         "-x264-params b-pyramid=normal -c:a aac " + quote(clip));
  Job one = run_job(dir, clip, model, "packets", 1);
  INFO(one.result.output);
  REQUIRE(one.result.exit_code == 0);
  CHECK_THAT(one.result.output, Catch::Contains("transport: packets"));
  check_output(clip, one.out, true);
  for (std::string transport : {"packets", "frames"}) {
    for (int ranks : {1, 2, 3, 4}) {
      if (transport == "packets" && ranks == 1) continue;
      DYNAMIC_SECTION(transport << " on " << ranks << " ranks") {
        Job j = run_job(dir, clip, model, transport, ranks);
        INFO(j.result.output);
        REQUIRE(j.result.exit_code == 0);
        CHECK_THAT(j.result.output, Catch::Contains("transport: " + transport));
        CHECK_THAT(j.result.output, Catch::Contains("done: 80 frames in 7 segments"));
        check_output(clip, j.out, true);
        check_no_seams(clip, one.out, j.out, 160, 96);
      }
    }
  }
  SECTION("packets, segments of 7 frames: cuts between keyframes, pre-roll from the keyframe") {
    for (int ranks : {2, 3}) {
      Job j = run_job(dir, clip, model, "packets", ranks, "_between.mp4", "--segment-frames 7");
      INFO(j.result.output);
      REQUIRE(j.result.exit_code == 0);
      // 12-frame GOPs, 7-frame segments: keyframe cuts alone would give 7 segments.
      CHECK_THAT(j.result.output, Catch::Contains("done: 80 frames in"));
      CHECK(segments_done(j.result.output) >= 9);
      check_output(clip, j.out, true);
      check_no_seams(clip, one.out, j.out, 160, 96);
    }
  }
  SECTION("packets on 2 ranks of 3 threads: each flush overlaps the rank's next segment") {
    Job j = run_job(dir, clip, model, "packets", 2, "_overlap.mp4", "--threads 3");
    INFO(j.result.output);
    REQUIRE(j.result.exit_code == 0);
    CHECK_THAT(j.result.output, Catch::Contains("done: 80 frames in 7 segments"));
    check_output(clip, j.out, true);
    check_no_seams(clip, one.out, j.out, 160, 96);
  }
}

TEST_CASE("open GOPs: leading pictures are decoded with the previous segment", "[mpi][segments]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  // A packets job on `ranks` against the 1-rank job `one`: clean, every frame, no seam.
  auto packets_job = [&](const std::string& clip, const Job& one, int ranks, bool audio,
                         const std::string& extra = "") {
    Job j = run_job(dir, clip, model, "packets", ranks, extra.empty() ? ".mp4" : "_between.mp4",
                    extra);
    INFO(j.result.output);
    REQUIRE(j.result.exit_code == 0);
    check_output(clip, j.out, audio);
    check_no_seams(clip, one.out, j.out, 160, 96);
    return j;
  };
  SECTION("H.264 with open-gop=1 (recovery points, non-IDR keyframes)") {
    std::string clip = dir.path("open264.mkv");
    ffmpeg("-f lavfi -i testsrc2=size=160x96:rate=25:duration=3 -f lavfi -i sine=duration=3 "
           "-c:v libx264 -g 12 -bf 3 -x264-params open-gop=1 -c:a aac " + quote(clip));
    Job one = run_job(dir, clip, model, "frames", 1);
    REQUIRE(one.result.exit_code == 0);
    for (int ranks : {1, 3}) packets_job(clip, one, ranks, true);
    // Cuts between recovery points: pre-roll starts at a keyframe that is not an IDR.
    Job j = packets_job(clip, one, 2, true, "--segment-frames 7");
    INFO(j.result.output);
    CHECK(segments_done(j.result.output) >= 9);  // 7 keyframes
  }
  SECTION("MPEG-2 with open GOPs") {
    std::string clip = dir.path("open_mpeg2.mkv");
    ffmpeg("-f lavfi -i testsrc2=size=160x96:rate=25:duration=3 -c:v mpeg2video -g 12 -bf 2 "
           "-q:v 3 " + quote(clip));
    Job one = run_job(dir, clip, model, "frames", 1);
    REQUIRE(one.result.exit_code == 0);
    for (int ranks : {2, 4}) packets_job(clip, one, ranks, false);
    Job j = packets_job(clip, one, 3, false, "--segment-frames 7");
    INFO(j.result.output);
    CHECK(segments_done(j.result.output) >= 9);  // 7 keyframes
  }
}

TEST_CASE("VFR keeps every timestamp across segment joins", "[mpi][segments]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("vfr.mp4");
  // Gaps of 40 ms, then 100 ms every fourth frame.
  ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -frames:v 60 "
         "-vf \"settb=1/1000,setpts='(N*0.04+floor(N/4)*0.06)/TB'\" -fps_mode passthrough "
         "-g 10 -bf 2 -c:v libx264 -video_track_timescale 1000 " + quote(clip));
  auto in = probe_video(clip);
  REQUIRE(in.frame_times.size() == 60);
  double shortest = 1, longest = 0;
  for (size_t i = 1; i < in.frame_times.size(); ++i) {
    shortest = std::min(shortest, in.frame_times[i] - in.frame_times[i - 1]);
    longest = std::max(longest, in.frame_times[i] - in.frame_times[i - 1]);
  }
  REQUIRE(longest > 2 * shortest);
  Job one = run_job(dir, clip, model, "packets", 1);
  INFO(one.result.output);
  REQUIRE(one.result.exit_code == 0);
  for (std::string transport : {"packets", "frames"}) {
    Job j = run_job(dir, clip, model, transport, 3);
    INFO(j.result.output);
    REQUIRE(j.result.exit_code == 0);
    check_output(clip, j.out, false);
    check_no_seams(clip, one.out, j.out, 128, 72);
  }
}

TEST_CASE("AVI without pts goes by the frames transport", "[mpi][segments]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("asp.avi");
  ffmpeg("-f lavfi -i testsrc2=size=160x96:rate=25:duration=2 -f lavfi -i sine=duration=2 "
         "-c:v mpeg4 -bf 2 -g 12 -q:v 3 -c:a libmp3lame " + quote(clip));
  Job auto_job = run_job(dir, clip, model, "auto", 3);
  INFO(auto_job.result.output);
  REQUIRE(auto_job.result.exit_code == 0);
  CHECK_THAT(auto_job.result.output,
             Catch::Contains("transport: frames (AVI: its packets carry no presentation "
                             "timestamps"));
  check_output(clip, auto_job.out, true, 0.04);
  Job forced = run_job(dir, clip, model, "packets", 2);
  CHECK(forced.result.exit_code == 2);
  CHECK_THAT(forced.result.output,
             Catch::Contains("vidscore: error: pipeline.transport \"packets\": " + clip +
                             " cannot be split into packet segments"));
}

TEST_CASE("auto picks frames when the input has too few keyframes for the ranks", "[mpi][segments]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("one_gop.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=96x64:rate=25:duration=2 -c:v libx264 -g 250 " + quote(clip));
  Job j = run_job(dir, clip, model, "auto", 2);
  INFO(j.result.output);
  REQUIRE(j.result.exit_code == 0);
  CHECK_THAT(j.result.output, Catch::Contains("transport: frames (too few keyframes to split"));
  check_output(clip, j.out, false);
  Job single = run_job(dir, clip, model, "auto", 1);
  REQUIRE(single.result.exit_code == 0);
  CHECK_THAT(single.result.output, Catch::Contains("transport: packets"));
}

TEST_CASE("a slower rank gets fewer segments", "[mpi][segments]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("many.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=96x64:rate=25:duration=8 -c:v libx264 -g 12 " + quote(clip));
  // Rank 1 sleeps 60 ms a frame: it is several times slower than rank 0.
  auto r = run("VIDSCORE_TEST_SLOW_RANK=1:60 OMPI_ALLOW_RUN_AS_ROOT=1 "
               "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -x VIDSCORE_TEST_SLOW_RANK "
               "-np 2 " + quote(VIDSCORE_BIN) + " --model " + quote(model) + " --input " +
               quote(clip) + " --output " + quote(dir.path("out.mp4")) +
               " --segment-frames 12 --threads 1 --progress off --preset ultrafast");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("done: 200 frames in 17 segments"));
  CHECK(segments_of_rank(r.output, 1) * 2 < segments_of_rank(r.output, 0));
}

TEST_CASE("a non-zero start time and an edit list are kept through packet segments",
          "[mpi][segments]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  // Starts at 10 s; B-frames give the MP4 an edit list (the first frame's composition delay).
  std::string clip = dir.path("late.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25:duration=2 -f lavfi -i sine=duration=2 "
         "-c:v libx264 -g 10 -bf 2 -c:a aac -output_ts_offset 10 " + quote(clip));
  auto in = probe_video(clip);
  REQUIRE(in.frame_times.size() == 50);
  REQUIRE(in.frame_times[0] >= 9.9);
  for (int ranks : {1, 3}) {
    Job j = run_job(dir, clip, model, "packets", ranks);
    INFO(j.result.output);
    REQUIRE(j.result.exit_code == 0);
    check_output(clip, j.out, true);
  }
}
