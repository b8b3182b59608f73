// Real trained models on real footage from ../shared (VIDSCORE_SHARED). Without that folder
// the tests print VIDSCORE_SKIPPED, which CTest reports as skipped.
#include <iostream>

#include <catch2/catch.hpp>

#include "support.h"

using namespace vidscore::test;

#define REQUIRE_SHARED(dir)                                                           \
  std::string dir = shared_dir();                                                     \
  if (dir.empty()) {                                                                  \
    std::cout << "VIDSCORE_SKIPPED: ../shared (models, media) not found" << std::endl; \
    return;                                                                           \
  }

TEST_CASE("style_candy restyles friday.mp4 with its audio", "[real][slow]") {
  REQUIRE_SHARED(shared);
  TempDir dir;
  // Scaled to 160x120 to keep CI short; the audio is stream-copied untouched.
  std::string clip = dir.path("friday_160.mp4");
  ffmpeg("-i " + quote(shared + "/media/friday.mp4") +
         " -map 0 -vf scale=160:120 -c:v libx264 -crf 16 -c:a copy " + quote(clip));
  std::string out = dir.path("candy.mp4");
  auto r = run_vidscore("--config " + quote(std::string(VIDSCORE_SOURCE_DIR) +
                                            "/configs/style_transfer.json") +
                        " --model " + quote(shared + "/models/style_candy.ts.pt") + " --input " +
                        quote(clip) + " --output " + quote(out));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  VideoProbe in = probe_video(clip), got = probe_video(out);
  CHECK(got.frame_times.size() == 185);
  REQUIRE(got.frame_times.size() == in.frame_times.size());
  CHECK(got.width == 160);
  CHECK(got.height == 120);
  CHECK(audio_packets_md5(out) == audio_packets_md5(shared + "/media/friday.mp4"));
  double frame = 1.0 / 30.0;
  CHECK(std::abs(stream_end_time(out, "audio") - stream_end_time(out, "video")) <= frame);

  auto a = decode_rgb(clip, 160, 120), b = decode_rgb(out, 160, 120);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); i += 20) {
    INFO("frame " << i);
    CHECK(psnr(a[i], b[i]) < 15.0);  // a painting, not the photo
  }
}
