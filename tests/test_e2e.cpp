// End to end through the real binary on clips generated with the ffmpeg CLI, with models the
// tests build themselves. Outputs are checked with ffprobe/ffmpeg, not with vidscore's reader.
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

extern "C" {
#include <libavutil/display.h>
}

#include "support.h"
#include "vidscore/ffmpeg_raii.h"

using namespace vidscore::test;

namespace {

// 161x97 (odd sides), 30000/1001 fps, 45 frames of moving pattern, AAC audio.
std::string make_odd_clip(const TempDir& dir) {
  std::string clip = dir.path("odd.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=160x96:rate=30000/1001:duration=1.5015 -f lavfi "
         "-i sine=frequency=440:sample_rate=44100:duration=1.5 -vf scale=161:97 "
         "-pix_fmt yuv444p -c:v libx264 -crf 10 -c:a aac -b:a 96k " + quote(clip));
  return clip;
}

// Same size, same frame count, same timestamps. Matroska shifts a whole file so no timestamp is
// negative (AAC priming makes audio start before 0), so there timestamps are compared relative
// to the first frame.
void check_same_timing(const std::string& in, const std::string& out, bool relative = false) {
  VideoProbe a = probe_video(in), b = probe_video(out);
  CHECK(b.codec == "h264");
  CHECK(a.width == b.width);
  CHECK(a.height == b.height);
  REQUIRE(a.frame_times.size() == b.frame_times.size());
  for (size_t i = 0; i < a.frame_times.size(); ++i) {
    INFO("frame " << i);
    double shift = relative ? b.frame_times[0] - a.frame_times[0] : 0.0;
    CHECK(b.frame_times[i] - shift == Approx(a.frame_times[i]).margin(1e-3));
  }
}

// Stream-copies `in` to `out`, tagging the video with a display matrix rotating by `degrees`
// (FFmpeg 5.1's CLI has no option for it).
void remux_with_rotation(const std::string& in, const std::string& out, double degrees) {
  using namespace vidscore;
  AVFormatContext* raw = nullptr;
  REQUIRE(avformat_open_input(&raw, in.c_str(), nullptr, nullptr) == 0);
  InputFormatPtr ifmt(raw);
  REQUIRE(avformat_find_stream_info(ifmt.get(), nullptr) >= 0);
  raw = nullptr;
  REQUIRE(avformat_alloc_output_context2(&raw, nullptr, nullptr, out.c_str()) >= 0);
  OutputFormatPtr ofmt(raw);
  for (unsigned i = 0; i < ifmt->nb_streams; ++i) {
    AVStream* st = avformat_new_stream(ofmt.get(), nullptr);
    REQUIRE(avcodec_parameters_copy(st->codecpar, ifmt->streams[i]->codecpar) >= 0);
    st->codecpar->codec_tag = 0;
    st->time_base = ifmt->streams[i]->time_base;
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
      auto* m = reinterpret_cast<int32_t*>(
          av_stream_new_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9));
      REQUIRE(m != nullptr);
      av_display_rotation_set(m, degrees);
    }
  }
  REQUIRE(avio_open(&ofmt->pb, out.c_str(), AVIO_FLAG_WRITE) >= 0);
  REQUIRE(avformat_write_header(ofmt.get(), nullptr) >= 0);
  PacketPtr pkt = make_packet();
  while (av_read_frame(ifmt.get(), pkt.get()) >= 0) {
    av_packet_rescale_ts(pkt.get(), ifmt->streams[pkt->stream_index]->time_base,
                         ofmt->streams[pkt->stream_index]->time_base);
    REQUIRE(av_interleaved_write_frame(ofmt.get(), pkt.get()) >= 0);
  }
  REQUIRE(av_write_trailer(ofmt.get()) >= 0);
}

}  // namespace

TEST_CASE("invert model on an odd-sized NTSC-rate clip", "[e2e]") {
  TempDir dir;
  std::string clip = make_odd_clip(dir);
  std::string model = dir.path("invert.ts.pt");
  save_filter("invert", model);
  std::string out = dir.path("out.mp4");
  auto r = run_vidscore("--model " + quote(model) + " --input " + quote(clip) + " --output " +
                        quote(out) + " --crf 4 --batch-size 3");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("done: 45 frames in "));

  check_same_timing(clip, out);
  CHECK(audio_packets_md5(out) == audio_packets_md5(clip));
  CHECK(audio_packet_count(out) == audio_packet_count(clip));

  auto in_frames = decode_rgb(clip, 161, 97);
  auto out_frames = decode_rgb(out, 161, 97);
  REQUIRE(in_frames.size() == 45);
  REQUIRE(out_frames.size() == 45);
  for (size_t i = 0; i < in_frames.size(); ++i) {
    std::vector<uint8_t> expected(in_frames[i].size());
    for (size_t k = 0; k < expected.size(); ++k) expected[k] = 255 - in_frames[i][k];
    INFO("frame " << i);
    CHECK(psnr(expected, out_frames[i]) >= 35.0);
  }
  CHECK(files_with_prefix(dir.path(""), "out.mp4.partial").empty());
  CHECK_THAT(r.output, Catch::Contains("cpu, batch 3)"));

  // The default batch on a CPU is 1 frame per call; the frames come out the same.
  std::string out1 = dir.path("out1.mp4");
  auto r1 = run_vidscore("--model " + quote(model) + " --input " + quote(clip) + " --output " +
                         quote(out1) + " --crf 4");
  INFO(r1.output);
  REQUIRE(r1.exit_code == 0);
  CHECK_THAT(r1.output, Catch::Contains("cpu, batch 1)"));
  CHECK(decode_rgb(out1, 161, 97) == out_frames);
}

TEST_CASE("containers, audio layouts and metadata", "[e2e]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);

  SECTION("audio as stream 0, MKV output keeps audio packets") {
    std::string clip = dir.path("a0.mp4");
    ffmpeg("-f lavfi -i sine=frequency=300:sample_rate=48000 -f lavfi "
           "-i testsrc2=size=128x72:rate=25 -t 1 -map 0:a -map 1:v -c:v libx264 -c:a aac " +
           quote(clip));
    REQUIRE(stream_types(clip) == std::vector<std::string>{"audio", "video"});
    std::string out = dir.path("a0.mkv");
    auto r = run_vidscore("--model " + quote(model) + " --input " + quote(clip) + " --output " +
                          quote(out));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    check_same_timing(clip, out, /*relative=*/true);
    CHECK(audio_packets_md5(out) == audio_packets_md5(clip));
  }

  SECTION("variable frame rate stays variable") {
    std::string clip = dir.path("vfr.mp4");
    // 30 frames at 25 fps, with a 0.5 s gap after frame 10 and a 3 fps stretch at the end.
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -frames:v 30 "
           "-vf \"setpts='(N/25 + gt(N,10)*0.5 + gt(N,20)*(N-20)*0.3)/TB'\" -fps_mode passthrough "
           "-c:v libx264 -video_track_timescale 1000 " + quote(clip));
    auto in = probe_video(clip);
    REQUIRE(in.frame_times.size() == 30);
    REQUIRE(in.frame_times[11] - in.frame_times[10] > 0.5);
    std::string out = dir.path("vfr_out.mp4");
    auto r = run_vidscore("--model " + quote(model) + " --input " + quote(clip) + " --output " +
                          quote(out));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    check_same_timing(clip, out);
  }

  SECTION("rotation and colour tags are carried over") {
    std::string plain = dir.path("plain.mp4"), clip = dir.path("rot.mp4");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -t 0.4 -c:v libx264 -colorspace bt709 "
           "-color_primaries bt709 -color_trc bt709 " + quote(plain));
    remux_with_rotation(plain, clip, 90);
    std::string out = dir.path("rot_out.mp4");
    auto r = run_vidscore("--model " + quote(model) + " --input " + quote(clip) + " --output " +
                          quote(out));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto tags = run("ffprobe -v error -select_streams v:0 -show_entries "
                    "stream=color_space,color_primaries,color_transfer:stream_side_data=rotation "
                    "-of default=nw=1 " + quote(out)).output;
    CHECK_THAT(tags, Catch::Contains("color_space=bt709") &&
                         Catch::Contains("color_primaries=bt709") &&
                         Catch::Contains("color_transfer=bt709") &&
                         Catch::Contains("rotation=-90"));
  }

  SECTION("rotation into .mkv, which cannot store it, is named in a note") {
    std::string plain = dir.path("plain.mp4"), clip = dir.path("rot.mp4");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -t 0.4 -c:v libx264 " + quote(plain));
    remux_with_rotation(plain, clip, 90);
    auto r = run_vidscore("--model " + quote(model) + " --input " + quote(clip) + " --output " +
                          quote(dir.path("rot_out.mkv")));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("vidscore: note: the input's display rotation (90 "
                                         "degrees) cannot be stored in .mkv"));
  }

  SECTION("Vorbis audio into MP4 is re-encoded to AAC, and said so") {
    std::string clip = dir.path("v.webm");
    ffmpeg("-f lavfi -i testsrc2=size=128x72:rate=25 -f lavfi -i sine=sample_rate=48000 -t 1 "
           "-c:v libvpx -b:v 200k -c:a libvorbis " + quote(clip));
    std::string out = dir.path("v.mp4");
    auto r = run_vidscore("--model " + quote(model) + " --input " + quote(clip) + " --output " +
                          quote(out));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("audio stream 1 (vorbis) re-encoded as aac"));
    auto codecs = run("ffprobe -v error -show_entries stream=codec_name -of csv=p=0 " + quote(out));
    CHECK(codecs.output == "h264\naac\n");
    CHECK(stream_end_time(out, "audio") == Approx(1.0).margin(0.05));
    check_same_timing(clip, out);
  }
}

TEST_CASE("every library of the process binds malloc and free to tcmalloc", "[e2e]") {
#if !VIDSCORE_WITH_TCMALLOC
  std::cout << "VIDSCORE_SKIPPED: built with -DVIDSCORE_TCMALLOC=OFF" << std::endl;
  return;
#endif
  // The dynamic linker's own account of each symbol binding (libtorch, FFmpeg, x264, MPI, ...),
  // every symbol bound at start (LD_BIND_NOW), not only those --version happens to call.
  auto r = run("LD_BIND_NOW=1 LD_DEBUG=bindings " + quote(VIDSCORE_BIN) + " --version 2>&1");
  REQUIRE(r.exit_code == 0);
  for (const std::string symbol :
       {"malloc", "free", "calloc", "realloc", "posix_memalign", "memalign", "aligned_alloc"}) {
    int to_tcmalloc = 0;
    std::string elsewhere;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("normal symbol `" + symbol + "'") == std::string::npos) continue;
      if (line.find("libtcmalloc_minimal") != std::string::npos)
        ++to_tcmalloc;
      else
        elsewhere += line + "\n";
    }
    INFO(symbol << " bound elsewhere:\n" << elsewhere);
    CHECK(to_tcmalloc >= (symbol == "malloc" ? 100 : 1));  // malloc: by most of ~300 libraries
    CHECK(elsewhere.empty());
  }
}

TEST_CASE("the process declines transparent huge pages unless VIDSCORE_HUGE_PAGES=1", "[e2e]") {
  TempDir dir;
  std::string clip = dir.path("hd.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=1280x720:rate=25:duration=6 -c:v libx264 -preset ultrafast " +
         quote(clip));
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  // The kernel's view of the running job (Linux 5.0+ lists THP_enabled in /proc/PID/status).
  auto thp_line = [&](const std::string& env) {
    std::string out = dir.path("out" + std::to_string(env.size()) + ".mp4");
    auto r = run("sh -c " + quote(env + " " + quote(VIDSCORE_BIN) + " --model " + quote(model) +
                                  " --input " + quote(clip) + " --output " + quote(out) +
                                  " --progress off --threads 1 >/dev/null 2>&1 & p=$!; "
                                  "sleep 1.5; grep THP_enabled /proc/$p/status; wait $p; "
                                  "echo exit=$?"));
    INFO(r.output);
    CHECK_THAT(r.output, Catch::Contains("exit=0"));
    return r.output;
  };
  std::string declined = thp_line("");
  if (declined.find("THP_enabled") == std::string::npos) {
    WARN("this kernel does not report THP_enabled (or the job ended within 1.5 s)");
    return;
  }
  CHECK_THAT(declined, Catch::Contains("THP_enabled:\t0"));
  CHECK_THAT(thp_line("VIDSCORE_HUGE_PAGES=1"), Catch::Contains("THP_enabled:\t1"));
}

TEST_CASE("NaN and infinity from the model: kept frames, written as 0 or clamped, one note",
          "[e2e]") {
  TempDir dir;
  // Frames 5 and 12 are painted white; the model answers them with red NaN, green +infinity
  // and blue -infinity, which the output shows as pure green; every other frame passes through.
  std::string clip = dir.path("marked.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=96x64:rate=25 -frames:v 20 -vf \"drawbox=x=0:y=0:w=iw:h=ih:"
         "color=white:t=fill:enable='eq(n,5)+eq(n,12)',format=rgb24\" -pix_fmt yuv444p "
         "-c:v libx264 -crf 8 -g 10 " + quote(clip));
  std::string model = dir.path("nan_on_white.ts.pt");
  save_scripted("def forward(self, x):\n"
                "    marked = x.mean(dim=[1, 2, 3], keepdim=True) > 240.0\n"
                "    one = x[:, 0:1]\n"
                "    bad = torch.cat([torch.full_like(one, float('nan')),\n"
                "                     torch.full_like(one, float('inf')),\n"
                "                     torch.full_like(one, float('-inf'))], 1)\n"
                "    return torch.where(marked, bad, x)\n",
                model);
  for (int ranks : {1, 2}) {
    INFO(ranks << " ranks");
    std::string out = dir.path("out" + std::to_string(ranks) + ".mp4");
    auto r = run_vidscore_mpi(ranks, "--model " + quote(model) + " --input " + quote(clip) +
                                         " --output " + quote(out) +
                                         " --crf 4 --segment-frames 10 --threads 1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    // Once per rank that met them (segments 0 and 1 each hold one marked frame).
    const std::string note = "the model gave NaN or infinite values for 1 of ";
    size_t notes = 0;
    for (size_t at = r.output.find(note); at != std::string::npos; at = r.output.find(note, at + 1))
      ++notes;
    CHECK(notes >= 1);
    CHECK(notes <= static_cast<size_t>(ranks));
    CHECK_THAT(r.output, Catch::Contains("NaN is written as 0, infinity as 0 or 255"));
    auto in = decode_rgb(clip, 96, 64), got = decode_rgb(out, 96, 64);
    REQUIRE(in.size() == 20);
    REQUIRE(got.size() == 20);
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("frame " << i);
      if (i == 5 || i == 12) {
        std::vector<uint8_t> green(got[i].size(), 0);
        for (size_t k = 1; k < green.size(); k += 3) green[k] = 255;
        CHECK(psnr(green, got[i]) >= 35.0);
      } else {
        CHECK(psnr(in[i], got[i]) >= 35.0);
      }
    }
  }
}
