// Real-world inputs that used to lose data or fail (issue 10): each case builds a small tricky
// file with the ffmpeg CLI and checks the output with ffprobe/ffmpeg, or the exact refusal and
// that nothing was written.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "support.h"

using namespace vidscore::test;

namespace {

std::string probe(const std::string& args) { return run("ffprobe -v error " + args).output; }

CommandResult vidscore_on(const std::string& model, const std::string& in, const std::string& out,
                          const std::string& extra = "") {
  return run_vidscore("--model " + quote(model) + " --input " + quote(in) + " --output " +
                      quote(out) + " " + extra);
}

// Every line the user sees is vidscore's own: FFmpeg's text is folded into them.
void check_only_vidscore_lines(const std::string& output) {
  std::istringstream s(output);
  for (std::string line; std::getline(s, line);) {
    if (line.empty() || line.rfind("\r", 0) == 0) continue;
    INFO(line);
    CHECK(line.rfind("vidscore:", 0) == 0);
  }
}

void truncate_file(const std::string& path, double fraction) {
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, static_cast<uintmax_t>(size * fraction));
}

}  // namespace

TEST_CASE("timestamps: 33-bit wrap in MPEG-TS is rebased, every frame plays", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("wrap.ts");
  // Starts (with the muxer's 1.4 s delay) 0.3 s before the 2^33 / 90 kHz wrap: FFmpeg unwraps it to negative timestamps.
  ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -f lavfi -i sine=sample_rate=48000 -t 3 "
         "-c:v libx264 -g 25 -c:a aac -output_ts_offset 95442 " + quote(clip));
  REQUIRE(std::stod(probe("-show_entries format=start_time -of csv=p=0 " + quote(clip))) < 0);
  std::string out = dir.path("wrap.mp4");
  auto r = vidscore_on(model, clip, out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto o = probe_video(out);
  REQUIRE(o.frame_times.size() == 75);  // all of them play: none behind the edit list
  CHECK(o.frame_times.front() >= 0.0);
  for (size_t i = 1; i < o.frame_times.size(); ++i)
    CHECK(o.frame_times[i] - o.frame_times[i - 1] == Approx(0.04).margin(1e-3));
  CHECK(audio_packet_count(out) == audio_packet_count(clip));
  CHECK(stream_end_time(out, "audio") == Approx(stream_end_time(out, "video")).margin(0.1));
}

TEST_CASE("colour: RGB-coded sources are tagged as the YUV they become", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("swap.ts.pt");
  save_filter("swap_rb", model);  // an R/B or matrix mix-up cannot pass this one
  for (const std::string fmt : {"bgr0", "gbrp"}) {
    DYNAMIC_SECTION(fmt) {
      std::string clip = dir.path(fmt + ".mkv");
      ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -t 0.4 -pix_fmt " + fmt +
             " -c:v ffv1 " + quote(clip));
      std::string out = dir.path(fmt + "_out.mp4");
      auto r = vidscore_on(model, clip, out, "--crf 4");
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
      CHECK(probe("-select_streams v:0 -show_entries stream=color_space -of csv=p=0 " +
                  quote(out)) != "gbr\n");
      auto a = decode_rgb(clip, 128, 72), b = decode_rgb(out, 128, 72);
      REQUIRE(a.size() == 10);
      REQUIRE(b.size() == 10);
      for (size_t i = 0; i < a.size(); ++i) {
        std::vector<uint8_t> swapped = a[i];
        for (size_t k = 0; k + 2 < swapped.size(); k += 3) std::swap(swapped[k], swapped[k + 2]);
        INFO("frame " << i);
        CHECK(psnr(swapped, b[i]) >= 35.0);
      }
    }
  }
}

TEST_CASE("an empty video track is an error, with no output", "[e2e][errors]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("empty.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -f lavfi -i sine -t 1 -frames:v 0 "
         "-c:v libx264 -c:a aac " + quote(clip));
  std::string out = dir.path("out.mp4");
  auto r = vidscore_on(model, clip, out);
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("vidscore: error:") && Catch::Contains(clip));
  CHECK(!file_exists(out));
  CHECK(files_with_prefix(dir.path(""), "out.mp4").empty());
}

TEST_CASE("what the output cannot keep is named in a note", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);

  SECTION("alpha (QuickTime RLE argb)") {
    std::string clip = dir.path("argb.mov");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -t 0.4 -pix_fmt argb -c:v qtrle " +
           quote(clip));
    auto r = vidscore_on(model, clip, dir.path("argb_out.mov"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("vidscore: note: the input's alpha channel (argb)"));
  }
  SECTION("alpha (VP9 yuva420p in WebM)") {
    std::string clip = dir.path("alpha.webm");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -t 0.4 -pix_fmt yuva420p -c:v libvpx-vp9 "
           "-b:v 200k " + quote(clip));
    auto r = vidscore_on(model, clip, dir.path("alpha_out.mkv"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("alpha channel") && Catch::Contains("is not kept"));
  }
  SECTION("10-bit input becoming 8-bit, and HDR metadata not carried") {
    std::string clip = dir.path("hdr.mkv");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -t 0.4 -pix_fmt yuv420p10le -c:v libx265 "
           "-x265-params 'log-level=error:hdr10=1:master-display=G(13250,34500)B(7500,3000)"
           "R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400' -color_primaries bt2020 "
           "-color_trc smpte2084 -colorspace bt2020nc " + quote(clip));
    std::string out = dir.path("hdr_out.mkv");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("the input has 10-bit samples (yuv420p10le); the model "
                                         "works on 8-bit RGB and the output is 8-bit yuv420p"));
    CHECK_THAT(r.output, Catch::Contains("HDR input (smpte2084): its colour tags are kept"));
    CHECK_THAT(probe("-select_streams v:0 -show_entries stream=color_transfer,color_primaries "
                     "-of csv=p=0 " + quote(out)), Catch::Contains("smpte2084,bt2020"));
  }
  SECTION("a video that changes size mid-stream is scaled to the first size") {
    std::string a = dir.path("a.ts"), b = dir.path("b.ts"), clip = dir.path("ab.ts");
    ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25 -t 1 -c:v libx264 " + quote(a));
    ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25 -t 1 -c:v libx264 -output_ts_offset 1 " +
           quote(b));
    run("cat " + quote(a) + " " + quote(b) + " > " + quote(clip));
    std::string out = dir.path("ab.mp4");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("changes size at frame 25 (320x240 -> 160x120); scaled "
                                         "to the first size, 320x240"));
    auto o = probe_video(out);
    CHECK(o.width == 320);
    CHECK(o.frame_times.size() == 50);
  }
}

TEST_CASE("interlaced sources keep their field order", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("tff.ts");
  ffmpeg("-f lavfi -i testsrc2=size=720x576:rate=25 -t 0.4 -c:v mpeg2video -flags +ildct+ilme "
         "-top 1 " + quote(clip));
  REQUIRE_THAT(probe("-select_streams v:0 -show_entries stream=field_order -of csv=p=0 " +
                     quote(clip)), Catch::StartsWith("tt"));
  for (const std::string ext : {"mkv", "mov"}) {
    std::string out = dir.path("tff." + ext);
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(probe("-select_streams v:0 -show_entries stream=field_order -of csv=p=0 " +
                     quote(out)), Catch::StartsWith("tt"));
    CHECK(probe_video(out).frame_times.size() == 10);
  }
}

TEST_CASE("container metadata and chapters are copied", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string meta = dir.path("meta.txt");
  std::ofstream(meta) << ";FFMETADATA1\ntitle=Harbour at dawn\n"
                         "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Opening\n"
                         "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Boats\n";
  std::string clip = dir.path("chap.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -f lavfi -i sine -i " + quote(meta) +
         " -map 0:v -map 1:a -map_metadata 2 -map_chapters 2 -t 2 -c:v libx264 -c:a aac " +
         quote(clip));
  for (const std::string ext : {"mp4", "mkv"}) {
    std::string out = dir.path("chap_out." + ext);
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(probe("-show_entries format_tags=title -of csv=p=0 " + quote(out)) ==
          "Harbour at dawn\n");
    CHECK(probe("-show_chapters -show_entries chapter=start_time,end_time:chapter_tags=title "
                "-of csv=p=0 " + quote(out)) ==
          "0.000000,1.000000,Opening\n1.000000,2.000000,Boats\n");
  }
  SECTION("mov_text into .mkv: the advice names a container that holds it") {
    std::string srt = dir.path("s.srt");
    std::ofstream(srt) << "1\n00:00:00,000 --> 00:00:01,000\nhello\n";
    std::string sub = dir.path("sub.mp4");
    ffmpeg("-i " + quote(clip) + " -i " + quote(srt) +
           " -map 0 -map 1 -c copy -c:s mov_text " + quote(sub));
    auto r = vidscore_on(model, sub, dir.path("sub_out.mkv"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("(mov_text) dropped: matroska cannot hold it (write .mp4 "
                                         "or .mov to keep it)"));
  }
}

TEST_CASE("damaged and cut inputs: what decodes is kept, the loss is said, exit 3",
          "[e2e][errors]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);

  SECTION("MKV cut at 90%") {
    std::string clip = dir.path("cut.mkv");
    ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 101 -c:v libx264 " +
           quote(clip));
    truncate_file(clip, 0.9);
    std::string out = dir.path("cut_out.mp4");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    CHECK(r.exit_code == 3);
    auto o = probe_video(out);
    CHECK(o.frame_times.size() > 50);
    CHECK(o.frame_times.size() < 101);
    CHECK_THAT(r.output, Catch::Contains("the input ended early: " +
                                         std::to_string(o.frame_times.size()) + " of 101"));
    check_only_vidscore_lines(r.output);
  }
  SECTION("faststart MP4 cut at 50%") {
    std::string clip = dir.path("fast.mp4");
    ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine -t 4 -c:v libx264 "
           "-c:a aac -movflags +faststart " + quote(clip));
    truncate_file(clip, 0.5);
    std::string out = dir.path("fast_out.mp4");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    CHECK(r.exit_code == 3);
    auto o = probe_video(out);
    CHECK(o.frame_times.size() > 20);
    CHECK(o.frame_times.size() < 100);
    CHECK_THAT(r.output, Catch::Contains("vidscore: note: " + clip));
    CHECK(audio_packet_count(out) > 0);
    check_only_vidscore_lines(r.output);
  }
  SECTION("an MP4 cut before its index is refused in one line") {
    std::string clip = dir.path("noindex.mp4");
    ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25 -t 2 -c:v libx264 " + quote(clip));
    truncate_file(clip, 0.5);  // moov atom at the end: gone
    std::string out = dir.path("noindex_out.mp4");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("cannot") && Catch::Contains(clip) &&
                             Catch::Contains("moov atom not found"));
    check_only_vidscore_lines(r.output);
    CHECK(!file_exists(out));
  }
}

TEST_CASE("containers: PCM stays PCM in MOV, unsupported outputs are refused up front",
          "[e2e][errors]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("pcm.mov");
  ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -f lavfi -i sine=sample_rate=48000 -t 1 "
         "-c:v libx264 -c:a pcm_s16le " + quote(clip));

  SECTION("PCM in MOV is copied") {
    std::string out = dir.path("pcm_out.mov");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, !Catch::Contains("re-encoded"));
    CHECK(probe("-select_streams a:0 -show_entries stream=codec_name -of csv=p=0 " +
                quote(out)) == "pcm_s16le\n");
    CHECK(audio_packets_md5(out) == audio_packets_md5(clip));
  }
  SECTION(".avi output is refused before any work") {
    std::string out = dir.path("out.avi");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("output " + out + ": the avi container is not supported; "
                                         "use .mp4, .mov or .mkv"));
    CHECK(files_with_prefix(dir.path(""), "out.avi").empty());
  }
  SECTION("an output that is an existing folder is refused before any work") {
    std::string out = dir.path("folder.mp4");
    std::filesystem::create_directory(out);
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("output " + out + " is an existing folder"));
    CHECK_THAT(r.output, !Catch::Contains("done:"));
  }
  SECTION("a named pipe as input is refused at once, not waited on") {
    std::string fifo = dir.path("in.fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto r = run("timeout 60 " + quote(VIDSCORE_BIN) + " --model " + quote(model) + " --input " +
                 quote(fifo) + " --output " + quote(dir.path("fifo_out.mp4")) + " 2>&1");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("input " + fifo + " is a pipe or device"));
  }
}

TEST_CASE("timestamp resets and joins: audio and video continue in step", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);

  SECTION("two MPEG-TS files concatenated (timestamps start again)") {
    std::string part = dir.path("part.ts"), clip = dir.path("reset.ts");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -f lavfi -i sine=sample_rate=48000 -t 2 "
           "-c:v libx264 -c:a aac " + quote(part));
    run("cat " + quote(part) + " " + quote(part) + " > " + quote(clip));
    std::string out = dir.path("reset.mp4");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("video timestamps jump by -2.000 s at frame 50"));
    CHECK_THAT(r.output, Catch::Contains("audio stream 1 (aac): timestamps jump by"));
    auto o = probe_video(out);
    REQUIRE(o.frame_times.size() == 100);
    for (size_t i = 1; i < o.frame_times.size(); ++i)
      CHECK(o.frame_times[i] - o.frame_times[i - 1] == Approx(0.04).margin(1e-3));
    CHECK(audio_packet_count(out) == 2 * audio_packet_count(part));
    CHECK(stream_end_time(out, "audio") == Approx(stream_end_time(out, "video")).margin(0.1));
  }
  SECTION("a concat of 25 fps and 10 fps parts") {
    std::string a = dir.path("p25.mp4"), b = dir.path("p10.mp4"), list = dir.path("l.txt");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -f lavfi -i sine=sample_rate=48000 -t 1 "
           "-c:v libx264 -c:a aac " + quote(a));
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=10 -f lavfi -i sine=sample_rate=48000 -t 1 "
           "-c:v libx264 -c:a aac " + quote(b));
    std::ofstream(list) << "file '" << a << "'\nfile '" << b << "'\n";
    std::string clip = dir.path("vfr.mp4");
    ffmpeg("-f concat -safe 0 -i " + quote(list) + " -c copy " + quote(clip));
    std::string out = dir.path("vfr_out.mp4");
    auto r = vidscore_on(model, clip, out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(probe_video(out).frame_times.size() == 35);
    CHECK(audio_packets_md5(out) == audio_packets_md5(clip));
  }
}

TEST_CASE("a repeated timestamp in MKV moves one tick, later frames keep theirs", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = dir.path("dup.mkv");
  // Frames 2 and 3 share 0.080 s; the rest are 0.040 s apart.
  ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -frames:v 20 "
         "-vf \"setpts='(N-gte(N,3))/25/TB'\" -fps_mode passthrough -bf 0 -c:v libx264 " +
         quote(clip));
  auto in = probe_video(clip);
  REQUIRE(in.frame_times.size() == 20);
  REQUIRE(in.frame_times[2] == in.frame_times[3]);
  std::string out = dir.path("dup_out.mkv");
  auto r = vidscore_on(model, clip, out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("1 frame(s) repeated an earlier timestamp"));
  auto o = probe_video(out);
  REQUIRE(o.frame_times.size() == 20);
  for (size_t i = 0; i < 20; ++i) {
    INFO("frame " << i);
    CHECK(o.frame_times[i] - o.frame_times[0] ==
          Approx(in.frame_times[i] - in.frame_times[0] + (i == 3 ? 0.001 : 0.0)).margin(1e-4));
  }
}
