// Media module: RGB <-> YUV conversion (swscale, and the float path), the reader's colour handling and metadata.
#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <cmath>
#include <random>
#include <cstring>

// torch first: its logging defines a CHECK macro that Catch's must replace.
#include "vidscore/model/model.h"
#include "vidscore/model/yuv_tensor.h"
#undef CHECK
#include <catch2/catch.hpp>

#include "support.h"
#include "vidscore/media/converter.h"
#include "vidscore/media/segment_decoder.h"
#include "vidscore/media/segment_encoder.h"
#include "vidscore/media/segment_planner.h"
#include "vidscore/media/video_muxer.h"
#include "vidscore/media/video_reader.h"

using namespace vidscore;

namespace {

// A smooth test image with some detail: gradients plus a soft circle.
std::vector<uint8_t> test_image(FrameSize s) {
  std::vector<uint8_t> img(s.rgb_bytes());
  for (int y = 0; y < s.height; ++y)
    for (int x = 0; x < s.width; ++x) {
      uint8_t* p = &img[(static_cast<size_t>(y) * s.width + x) * 3];
      double d = std::hypot(x - s.width / 2.0, y - s.height / 2.0) / s.width;
      p[0] = static_cast<uint8_t>(255.0 * x / (s.width - 1));
      p[1] = static_cast<uint8_t>(255.0 * y / (s.height - 1));
      p[2] = static_cast<uint8_t>(std::clamp(255.0 * (1.0 - 2 * d), 0.0, 255.0));
    }
  return img;
}

// An empty frame of `fmt` and `s`, its buffers allocated.
FramePtr blank_frame(AVPixelFormat fmt, FrameSize s) {
  FramePtr f = make_frame();
  f->format = fmt;
  f->width = s.width;
  f->height = s.height;
  REQUIRE(av_frame_get_buffer(f.get(), 0) == 0);
  return f;
}

// The RGB image as a tagged YUV frame of `fmt`, converted by swscale.
FramePtr yuv_frame(const std::vector<uint8_t>& rgb, FrameSize s, AVPixelFormat fmt,
                   ColorTags tags) {
  FramePtr yuv = blank_frame(fmt, s);
  FromRgbConverter(s, fmt, tags).convert(rgb.data(), *yuv);
  yuv->colorspace = tags.space;
  yuv->color_range = tags.range;
  return yuv;
}

std::vector<uint8_t> round_trip(const std::vector<uint8_t>& rgb, FrameSize s, AVPixelFormat fmt,
                                ColorTags tags) {
  FramePtr yuv = yuv_frame(rgb, s, fmt, tags);
  std::vector<uint8_t> back(s.rgb_bytes());
  ToRgbConverter to(s);
  to.convert(*yuv, back.data());
  return back;
}

}  // namespace

TEST_CASE("RGB -> YUV -> RGB round trip", "[unit][media]") {
  FrameSize s{161, 97};
  auto img = test_image(s);
  for (AVColorSpace space : {AVCOL_SPC_BT470BG, AVCOL_SPC_BT709, AVCOL_SPC_BT2020_NCL}) {
    for (AVColorRange range : {AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG}) {
      ColorTags tags{space, range};
      INFO("space " << av_color_space_name(space) << " range " << av_color_range_name(range));
      CHECK(test::psnr(img, round_trip(img, s, AV_PIX_FMT_YUV444P, tags)) > 42.0);
      FrameSize even{160, 96};
      auto img2 = test_image(even);
      CHECK(test::psnr(img2, round_trip(img2, even, AV_PIX_FMT_YUV420P, tags)) > 35.0);
    }
  }
}

TEST_CASE("RGB -> YUV uses the tagged matrix and range", "[unit][media]") {
  FrameSize s{16, 16};
  std::vector<uint8_t> rgb(s.rgb_bytes());
  for (size_t i = 0; i < rgb.size(); i += 3) rgb[i] = 192, rgb[i + 1] = 48, rgb[i + 2] = 32;
  auto luma = [&](ColorTags tags) {
    FramePtr yuv = blank_frame(AV_PIX_FMT_YUV444P, s);
    FromRgbConverter(s, AV_PIX_FMT_YUV444P, tags).convert(rgb.data(), *yuv);
    return int(yuv->data[0][5 * yuv->linesize[0] + 5]);
  };
  double y601 = 0.299 * 192 + 0.587 * 48 + 0.114 * 32, y709 = 0.2126 * 192 + 0.7152 * 48 + 0.0722 * 32;
  CHECK(std::abs(luma({AVCOL_SPC_BT709, AVCOL_RANGE_MPEG}) - (16 + 219 * y709 / 255)) <= 1.0);
  CHECK(std::abs(luma({AVCOL_SPC_BT470BG, AVCOL_RANGE_MPEG}) - (16 + 219 * y601 / 255)) <= 1.0);
  CHECK(std::abs(luma({AVCOL_SPC_BT709, AVCOL_RANGE_JPEG}) - y709) <= 1.0);
}

TEST_CASE("reader decodes to the right colours for the clip's matrix", "[unit][media]") {
  test::TempDir dir;
  // The same RGB colour encoded with three matrix/range combinations: each must decode back.
  struct Case {
    const char* name;
    const char* args;
  } cases[] = {
      {"bt601", "-vf scale=out_color_matrix=bt601:out_range=tv,format=yuv420p -colorspace smpte170m"},
      {"bt709", "-vf scale=out_color_matrix=bt709:out_range=tv,format=yuv420p -colorspace bt709"},
      {"bt709-full",
       "-vf scale=out_color_matrix=bt709:out_range=pc,format=yuv420p -colorspace bt709 -color_range pc"},
  };
  for (const auto& c : cases) {
    std::string clip = dir.path(std::string(c.name) + ".mp4");
    test::ffmpeg("-f lavfi -i color=c=0xC03020:size=64x48:rate=10:duration=0.5 " +
                 std::string(c.args) + " -c:v libx264 -qp 0 " + test::quote(clip));
    VideoReader reader(clip);
    REQUIRE(reader.info().size == FrameSize{64, 48});
    std::vector<uint8_t> rgb(reader.info().size.rgb_bytes());
    int64_t pts = 0;
    REQUIRE(reader.read(rgb.data(), &pts));
    INFO(c.name << ": got " << int(rgb[0]) << "," << int(rgb[1]) << "," << int(rgb[2]));
    CHECK(std::abs(rgb[0] - 192) <= 3);
    CHECK(std::abs(rgb[1] - 48) <= 3);
    CHECK(std::abs(rgb[2] - 32) <= 3);
  }
}

TEST_CASE("reader metadata, timestamps and frame count", "[unit][media]") {
  test::TempDir dir;
  std::string clip = dir.path("c.mkv");
  test::ffmpeg("-f lavfi -i testsrc2=size=96x64:rate=30000/1001:duration=1 -c:v libx264 " +
               test::quote(clip));
  VideoReader reader(clip);
  const VideoInfo& info = reader.info();
  CHECK(info.codec_name == "h264");
  CHECK(info.frame_rate.num == 30000);
  CHECK(info.frame_rate.den == 1001);
  std::vector<uint8_t> rgb(info.size.rgb_bytes());
  int64_t pts = 0, last = -1;
  int n = 0;
  while (reader.read(rgb.data(), &pts)) {
    CHECK(pts > last);
    last = pts;
    ++n;
  }
  auto probe = test::probe_video(clip);
  CHECK(n == static_cast<int>(probe.frame_times.size()));
  CHECK(n == 30);
}

namespace {

// A packet list: each entry is {pts, key}; kNoPts for packets without a timestamp.
std::vector<PacketData> packets(const std::vector<std::pair<int64_t, bool>>& list) {
  std::vector<PacketData> out;
  for (auto [pts, key] : list) {
    PacketData p;
    p.pts = pts;
    p.flags = key ? 1 : 0;
    out.push_back(p);
  }
  return out;
}

std::vector<SegmentWork> plan(const std::vector<PacketData>& list, int target,
                              int64_t frame_step = 0, int64_t expected = 0) {
  SegmentPlanner planner(target, frame_step, expected);
  std::vector<SegmentWork> out;
  for (const auto& p : list)
    if (auto s = planner.add(p)) out.push_back(std::move(*s));
  for (auto& s : planner.finish()) out.push_back(std::move(s));
  return out;
}

// Every pts from 0 to n - 1 is kept by exactly one segment (start_pts <= pts < end_pts).
bool kept_once(const std::vector<SegmentWork>& segs, int64_t n) {
  std::vector<int> kept(static_cast<size_t>(n), 0);
  for (const auto& s : segs) {
    std::set<int64_t> seen;
    for (const auto& p : s.packets) {
      const bool in = (s.start_pts == kNoPts || p.pts >= s.start_pts) && p.pts < s.end_pts;
      if (in && p.pts >= 0 && p.pts < n && seen.insert(p.pts).second) ++kept[p.pts];
    }
  }
  return std::all_of(kept.begin(), kept.end(), [](int k) { return k == 1; });
}

// Frames a segment keeps: the distinct pts of its packets in [start_pts, end_pts).
size_t kept_count(const SegmentWork& s) {
  std::set<int64_t> kept;
  for (const auto& p : s.packets)
    if ((s.start_pts == kNoPts || p.pts >= s.start_pts) && p.pts < s.end_pts) kept.insert(p.pts);
  return kept.size();
}

std::vector<int64_t> pts_of(const SegmentWork& s) {
  std::vector<int64_t> v;
  for (const auto& p : s.packets) v.push_back(p.pts);
  return v;
}

}  // namespace

TEST_CASE("segment planner", "[unit][media][segments]") {
  SECTION("closed GOPs: a keyframe at the target is the cut, ranges meet") {
    // Keyframes every 4 packets, no B-frames.
    std::vector<std::pair<int64_t, bool>> list;
    for (int i = 0; i < 14; ++i) list.push_back({i, i % 4 == 0});
    auto segs = plan(packets(list), 8);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].index == 0);
    CHECK(segs[0].start_pts == kNoPts);
    CHECK(segs[0].end_pts == 8);
    // Packets 0-7, plus the cut keyframe as post-roll (not kept: its pts is the end).
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(segs[1].index == 1);
    CHECK(segs[1].start_pts == 8);
    CHECK(segs[1].end_pts == kEndOfStream);
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{8, 9, 10, 11, 12, 13});
  }
  SECTION("between keyframes: the next segment decodes from the keyframe, keeps from the cut") {
    // Keyframes every 4 packets, no B-frames, segments of 6: cuts at 6 and 12.
    std::vector<std::pair<int64_t, bool>> list;
    for (int i = 0; i < 14; ++i) list.push_back({i, i % 4 == 0});
    auto segs = plan(packets(list), 6);
    REQUIRE(segs.size() == 3);
    CHECK(segs[0].end_pts == 6);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
    CHECK(segs[1].start_pts == 6);
    CHECK(segs[1].end_pts == 12);
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10, 11, 12});
    CHECK(segs[2].start_pts == 12);
    CHECK(pts_of(segs[2]) == std::vector<int64_t>{12, 13});
    CHECK(kept_once(segs, 14));
  }
  SECTION("between keyframes with B-pyramids: the B-pictures after the cut go to both") {
    // x264's decode order, -bf 3 with a pyramid: I0 P4 B2 b1 b3 P8 B6 b5 b7 P12 B10 b9 b11
    // P16 B14 b13 b15, segments of 5. The cut is P8, the first picture after 5 packets that
    // displays after all of them. B6 b5 b7 display before it: segment 0 keeps them; segment 1
    // decodes them too (later pictures may reference B6), from I0, and drops them. P16 would be
    // a cut by length, but its keyframe is 13 packets back (more than 2 x 5): no cut.
    auto segs = plan(packets({{0, true}, {4, false}, {2, false}, {1, false}, {3, false},
                              {8, false}, {6, false}, {5, false}, {7, false}, {12, false},
                              {10, false}, {9, false}, {11, false}, {16, false}, {14, false},
                              {13, false}, {15, false}}),
                     5);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].start_pts == kNoPts);
    CHECK(segs[0].end_pts == 8);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 4, 2, 1, 3, 8, 6, 5, 7});
    CHECK(segs[1].start_pts == 8);
    CHECK(segs[1].end_pts == kEndOfStream);
    CHECK(pts_of(segs[1]) ==
          std::vector<int64_t>{0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11, 16, 14, 13, 15});
    CHECK(kept_once(segs, 17));
  }
  SECTION("between keyframes: pre-roll starts at the last keyframe, at most 2 segments back") {
    // Keyframes at 0 and 10, segments of 3: cuts at 3 and 6 (keyframe 0 is 3 and 6 packets
    // back), none at 9 (9 back, over 2 x 3), at 10 (keyframe), at 13 (pre-roll from 10).
    std::vector<std::pair<int64_t, bool>> list;
    for (int i = 0; i < 16; ++i) list.push_back({i, i == 0 || i == 10});
    auto segs = plan(packets(list), 3);
    REQUIRE(segs.size() == 5);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 1, 2, 3});
    CHECK(segs[1].start_pts == 3);
    CHECK(segs[1].end_pts == 6);
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
    CHECK(segs[2].start_pts == 6);
    CHECK(segs[2].end_pts == 10);
    CHECK(pts_of(segs[2]) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    CHECK(segs[3].start_pts == 10);
    CHECK(segs[3].end_pts == 13);
    CHECK(pts_of(segs[3]) == std::vector<int64_t>{10, 11, 12, 13});
    CHECK(segs[4].start_pts == 13);
    CHECK(pts_of(segs[4]) == std::vector<int64_t>{10, 11, 12, 13, 14, 15});
    CHECK(kept_once(segs, 16));
  }
  SECTION("leading pictures (open GOP) go to the segment before the keyframe") {
    // Decode order: I0 P3 B1 B2 P6 B4 B5 | I9 B7 B8 P12 B10 B11
    auto segs = plan(packets({{0, true}, {3, false}, {1, false}, {2, false}, {6, false},
                              {4, false}, {5, false}, {9, true}, {7, false}, {8, false},
                              {12, false}, {10, false}, {11, false}}),
                     6);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].end_pts == 9);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 3, 1, 2, 6, 4, 5, 9, 7, 8});
    CHECK(segs[1].start_pts == 9);
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{9, 12, 10, 11});
  }
  SECTION("a keyframe that frames before it display after is no cut") {
    // P5 is decoded before the keyframe at 4 but displays after it: cutting there loses it.
    // P5 itself is a cut (between keyframes), and the keyframe at 8.
    auto segs = plan(packets({{0, true}, {1, false}, {5, false}, {4, true}, {2, false},
                              {3, false}, {6, false}, {8, true}, {7, false}}),
                     2);
    REQUIRE(segs.size() == 3);
    CHECK(segs[0].end_pts == 5);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 1, 5, 4, 2, 3});
    CHECK(segs[1].start_pts == 5);
    CHECK(segs[1].end_pts == 8);
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{0, 1, 5, 4, 2, 3, 6, 8, 7});
    CHECK(segs[2].start_pts == 8);
    CHECK(kept_once(segs, 9));
    // Segments of 3: the cut is P6, and its pre-roll starts at the keyframe 0, not at 4 (P5,
    // decoded before 4, would be missing).
    auto three = plan(packets({{0, true}, {1, false}, {5, false}, {4, true}, {2, false},
                               {3, false}, {6, false}, {8, true}, {7, false}}),
                      3);
    REQUIRE(three.size() == 2);
    CHECK(three[0].end_pts == 6);
    CHECK(pts_of(three[1]) == std::vector<int64_t>{0, 1, 5, 4, 2, 3, 6, 8, 7});
    CHECK(kept_once(three, 9));
  }
  SECTION("pre-roll never starts at a keyframe that an earlier picture displays after") {
    // I0 P1 P5 K4 B2 B3 P6 P7 P9, segments of 3: the cut is P6, which references P5; decoding
    // from K4 would miss P5, so the pre-roll starts at I0.
    auto segs = plan(packets({{0, true}, {1, false}, {5, false}, {4, true}, {2, false},
                              {3, false}, {6, false}, {7, false}, {9, false}}),
                     3);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].end_pts == 6);
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{0, 1, 5, 4, 2, 3, 6, 7, 9});
  }
  SECTION("pre-roll leaves out the leading pictures of its keyframe") {
    // I0 P1 P2 P3 K6 B4 B5 P7 ...: K6 opens an open GOP (B4 B5 lead it) and is no cut (4 frames
    // of 6). P7 is; its pre-roll is K6 alone: B4 and B5 reference P3, which it does not have.
    auto segs = plan(packets({{0, true}, {1, false}, {2, false}, {3, false}, {6, true},
                              {4, false}, {5, false}, {7, false}, {8, false}, {9, false},
                              {10, false}}),
                     6);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].end_pts == 7);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 1, 2, 3, 6, 4, 5, 7});
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{6, 7, 8, 9, 10});
    CHECK(kept_once(segs, 11));
  }
  SECTION("a packet without pts after a cut goes to both segments") {
    // I0 P1 P2 P4 [no pts] B3 P5, segments of 3: cut at P4; the packet without pts may be a
    // second field of P4 or a picture before it, and B3 after it still belongs to segment 0.
    auto segs = plan(packets({{0, true}, {1, false}, {2, false}, {4, false}, {kNoPts, false},
                              {3, false}, {5, false}}),
                     3);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].end_pts == 4);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 1, 2, 4, kNoPts, 3});
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{0, 1, 2, 4, kNoPts, 3, 5});
    CHECK(kept_once(segs, 6));
  }
  SECTION("keyframes without pts and packets without pts are never cut points") {
    auto segs = plan(packets({{0, true}, {kNoPts, false}, {2, false}, {kNoPts, true},
                              {4, false}, {5, true}, {6, false}}),
                     2);
    REQUIRE(segs.size() == 3);
    CHECK(segs[0].end_pts == 2);
    // The keyframe without pts after the cut at 2 may display before it: both segments get it.
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, kNoPts, 2, kNoPts});
    CHECK(segs[1].start_pts == 2);
    CHECK(segs[1].end_pts == 5);
    CHECK(segs[2].start_pts == 5);
    CHECK(pts_of(segs[2]) == std::vector<int64_t>{5, 6});
  }
  SECTION("fewer packets than one segment: one segment with every packet") {
    auto segs = plan(packets({{0, true}, {1, false}, {2, true}}), 50);
    REQUIRE(segs.size() == 1);
    CHECK(segs[0].start_pts == kNoPts);
    CHECK(segs[0].end_pts == kEndOfStream);
    CHECK(segs[0].packets.size() == 3);
  }
  SECTION("no packets: no segment") {
    CHECK(plan({}, 4).empty());
  }
}

TEST_CASE("segment planner: lengths near the target, even across the input",
          "[unit][media][segments]") {
  SECTION("B-pictures: the frame step counts those that display before a cut") {
    // x264's pyramid, 4 frames from one P-picture to the next: I0 P4 B2 b1 b3 P8 B6 b5 b7 ...
    // Keyframes at 0 and 16 (B14 b13 b15 lead the second: an open GOP), 33 frames.
    std::vector<std::pair<int64_t, bool>> list{{0, true}};
    for (int64_t p = 4; p <= 32; p += 4)
      for (int64_t pts : {p, p - 2, p - 3, p - 1}) list.push_back({pts, pts == 16});
    // Segments of 7: a cut after 4 or after 8 frames; 8 is nearer.
    auto segs = plan(packets(list), 7, 1);
    REQUIRE(segs.size() == 5);
    for (int i = 0; i < 4; ++i) CHECK(kept_count(segs[i]) == 8);
    CHECK(kept_count(segs[4]) == 1);
    CHECK(kept_once(segs, 33));
    // Without the frame step the planner sees only the packets so far: 9 of them (12 frames)
    // before it can cut.
    auto blind = plan(packets(list), 7);
    CHECK(kept_count(blind[0]) == 12);
    CHECK(kept_once(blind, 33));
  }
  SECTION("a pause in variable-rate video hides no frames") {
    // No B-pictures, a 93-frame pause after pts 6: the gap is not counted as frames (as B-
    // pictures it would have made a cut at 100, after 2 frames).
    std::vector<std::pair<int64_t, bool>> list;
    for (int i = 0; i < 7; ++i) list.push_back({i, i == 0});
    for (int i = 100; i < 113; ++i) list.push_back({i, false});
    auto segs = plan(packets(list), 5, 1);
    REQUIRE(segs.size() == 3);
    CHECK(kept_count(segs[0]) == 5);
    CHECK(kept_count(segs[1]) == 5);
    CHECK(segs[1].end_pts == 103);
    CHECK(kept_count(segs[2]) == 10);  // from 108 on, keyframe 0 is too far back
  }
  SECTION("the expected frame count is shared evenly: no short segment at the end") {
    std::vector<std::pair<int64_t, bool>> list;
    for (int i = 0; i < 20; ++i) list.push_back({i, i % 5 == 0});
    auto even = plan(packets(list), 6, 1, 20);
    REQUIRE(even.size() == 3);
    CHECK(kept_count(even[0]) == 7);
    CHECK(kept_count(even[1]) == 7);
    CHECK(kept_count(even[2]) == 6);
    CHECK(kept_once(even, 20));
    auto unknown = plan(packets(list), 6, 1);
    REQUIRE(unknown.size() == 4);
    CHECK(kept_count(unknown[3]) == 2);
    // An input longer than its container said: the last segment takes up to a segment more,
    // then cuts go on at the target.
    auto longer = plan(packets(list), 6, 1, 12);
    REQUIRE(longer.size() == 3);
    CHECK(kept_count(longer[0]) == 6);
    CHECK(kept_count(longer[1]) == 12);
    CHECK(kept_count(longer[2]) == 2);
    CHECK(kept_once(longer, 20));
  }
}

TEST_CASE("segments join only when their stream headers are identical", "[unit][media][segments]") {
  test::TempDir dir;
  std::string clip = dir.path("in.mp4");
  test::ffmpeg("-f lavfi -i testsrc2=size=64x48:rate=25 -frames:v 4 -c:v libx264 " +
               test::quote(clip));
  VideoInfo info = VideoReader(clip).info();
  WriterOptions wo;
  wo.preset = "ultrafast";
  SegmentEncoder encoder(info, wo);
  auto encode_segment = [&](int64_t index, int64_t first_pts) {
    SegmentResult seg;
    seg.index = index;
    encoder.begin();
    std::vector<uint8_t> rgb(info.size.rgb_bytes());
    for (int i = 0; i < 3; ++i) {
      std::fill(rgb.begin(), rgb.end(), static_cast<uint8_t>(40 * (index + i)));
      seg.frame_pts.push_back(first_pts + i * 512);
      encoder.encode(rgb.data(), first_pts + i * 512);
    }
    encoder.end(seg);
    return seg;
  };
  // Different content, same settings: x264's stitchable headers are byte-identical.
  SegmentResult a = encode_segment(0, 0), b = encode_segment(1, 1536);
  CHECK(a.extradata == b.extradata);
  CHECK_FALSE(a.extradata.empty());
  VideoMuxer muxer(dir.path("out.mp4"), info, encoder.params(), wo);
  muxer.write_segment(a);
  SegmentResult tampered = b;
  tampered.extradata.back() ^= 0x01;
  CHECK_THROWS_WITH(muxer.write_segment(tampered),
                    Catch::Contains("segment 1 (rank 0): the encoder's stream header differs"));
}

TEST_CASE("segment planner: repeats, streams cut mid-GOP", "[unit][media][segments]") {
  SECTION("a repeated pts needs room: no cut where the moved repeat would reach the keyframe") {
    // pts 3 twice: the ranks move the second to 4, and 4, 5, 6 after it one on each, so no
    // keyframe up to 7 is a cut; one at 8 is.
    auto segs = plan(packets({{0, true}, {1, false}, {2, false}, {3, false}, {3, false},
                              {4, true}, {5, false}, {6, true}, {8, true}, {9, false}}),
                     5);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].end_pts == 8);
    CHECK(segs[1].start_pts == 8);
  }
  SECTION("a repeated pts before a cut between keyframes") {
    // pts 1 twice (the ranks move the second to 2): P3 has room above it and is a cut.
    auto segs = plan(packets({{0, true}, {1, false}, {1, false}, {3, false}, {4, false},
                              {5, false}}),
                     3);
    REQUIRE(segs.size() == 2);
    CHECK(segs[0].end_pts == 3);
    CHECK(pts_of(segs[0]) == std::vector<int64_t>{0, 1, 1, 3});
    CHECK(segs[1].start_pts == 3);
    CHECK(pts_of(segs[1]) == std::vector<int64_t>{0, 1, 1, 3, 4, 5});
    // Without room (2 follows the repeat) P2 is no cut.
    auto tight = plan(packets({{0, true}, {1, false}, {1, false}, {2, false}, {4, false}}), 3);
    REQUIRE(tight.size() == 2);
    CHECK(tight[0].end_pts == 4);
  }
  SECTION("packets before the first keyframe: the first segment starts at the keyframe") {
    auto segs = plan(packets({{3, false}, {1, false}, {4, true}, {5, false}, {6, false}}), 50);
    REQUIRE(segs.size() == 1);
    CHECK(segs[0].start_pts == 4);
    CHECK(segs[0].packets.size() == 5);
  }
}

// The float path (model/yuv_tensor): YUV planes straight to the model's float RGB and back.
namespace {

// Largest difference between two planes of `w` x `h` bytes.
int plane_diff(const AVFrame& a, const AVFrame& b, int plane, int w, int h) {
  int worst = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      worst = std::max(worst, std::abs(a.data[plane][y * a.linesize[plane] + x] -
                                       b.data[plane][y * b.linesize[plane] + x]));
  return worst;
}

}  // namespace

TEST_CASE("segment decoder: pre- and post-roll pictures nobody refers to are not decoded",
          "[unit][media][segments]") {
  test::TempDir dir;
  const std::string clip = dir.path("pyramid.mp4");
  test::ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 48 -c:v libx264 -bf 3 "
         "-x264-params b-pyramid=normal -g 24 -keyint_min 24 -sc_threshold 0 -pix_fmt yuv420p " +
         test::quote(clip));
  VideoReader reader(clip);
  SegmentWork all;
  for (PacketData p; reader.read_packet(p);) all.packets.push_back(p);
  REQUIRE(all.packets.size() == 48);
  std::vector<int64_t> display;
  for (const auto& p : all.packets) display.push_back(p.pts);
  std::sort(display.begin(), display.end());

  // Every frame, decoded from the whole stream: the reference.
  std::map<int64_t, std::vector<uint8_t>> reference;
  SegmentDecoder whole(reader.info(), reader.codec_parameters());
  whole.decode(all, [&](const AVFrame& f, int64_t pts) {
    reference[pts] = to_raw_frame(f, pts).data;
  });
  REQUIRE(reference.size() == 48);
  CHECK(whole.dropped_frames() == 0);

  // Frames 10 .. 29 in display order, given every packet: 28 pictures lie outside.
  SegmentWork part = all;
  part.start_pts = display[10];
  part.end_pts = display[30];
  SegmentDecoder decoder(reader.info(), reader.codec_parameters());
  std::vector<int64_t> kept;
  decoder.decode(part, [&](const AVFrame& f, int64_t pts) {
    kept.push_back(pts);
    INFO("pts " << pts);
    CHECK(to_raw_frame(f, pts).data == reference[pts]);
  });
  CHECK(kept == std::vector<int64_t>(display.begin() + 10, display.begin() + 30));
  // The B-pictures outside (x264 marks most of them unreferenced) were skipped, the I- and
  // P-pictures and referenced B-pictures decoded and dropped.
  CHECK(decoder.dropped_frames() > 0);
  CHECK(decoder.dropped_frames() < 28 - 8);

  // Without a pts on every packet nothing is skipped: frame times are counted then.
  SegmentWork counted = part;
  counted.packets.back().pts = kNoPts;
  SegmentDecoder counting(reader.info(), reader.codec_parameters());
  int64_t frames = 0;
  counting.decode(counted, [&](const AVFrame&, int64_t) { ++frames; });
  CHECK(counting.dropped_frames() + frames == 48);

  // HEVC marks pictures only sub-layer non-reference: every picture outside is decoded.
  const std::string hevc = dir.path("pyramid_hevc.mp4");
  test::ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 48 -c:v libx265 "
               "-x265-params log-level=error:bframes=3:keyint=24:min-keyint=24:scenecut=0 "
               "-pix_fmt yuv420p " + test::quote(hevc));
  VideoReader hevc_reader(hevc);
  SegmentWork hevc_part;
  for (PacketData p; hevc_reader.read_packet(p);) hevc_part.packets.push_back(p);
  REQUIRE(hevc_part.packets.size() == 48);
  std::vector<int64_t> hevc_display;
  for (const auto& p : hevc_part.packets) hevc_display.push_back(p.pts);
  std::sort(hevc_display.begin(), hevc_display.end());
  hevc_part.start_pts = hevc_display[10];
  hevc_part.end_pts = hevc_display[30];
  SegmentDecoder hevc_decoder(hevc_reader.info(), hevc_reader.codec_parameters());
  int64_t hevc_kept = 0;
  hevc_decoder.decode(hevc_part, [&](const AVFrame&, int64_t) { ++hevc_kept; });
  CHECK(hevc_kept == 20);
  CHECK(hevc_decoder.dropped_frames() == 28);
}

TEST_CASE("float path: YUV -> float RGB agrees with swscale's conversion", "[unit][media]") {
  for (AVPixelFormat fmt : {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV444P}) {
    FrameSize s = fmt == AV_PIX_FMT_YUV444P ? FrameSize{161, 97} : FrameSize{160, 96};
    auto img = test_image(s);
    for (AVColorSpace space : {AVCOL_SPC_BT470BG, AVCOL_SPC_BT709, AVCOL_SPC_BT2020_NCL}) {
      for (AVColorRange range : {AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG}) {
        INFO(av_get_pix_fmt_name(fmt) << " " << av_color_space_name(space) << " "
                                      << av_color_range_name(range));
        FramePtr yuv = yuv_frame(img, s, fmt, {space, range});
        if (fmt == AV_PIX_FMT_YUV420P) {
          // swscale places 4:2:0 chroma half a luma row lower than the centre of the rows it
          // covers; the float path keeps it centred, as MPEG-2 and H.264 define (next test).
          // Centred measures closer to the source: an identity job on more/smpte.mp4 keeps
          // Cb/Cr at 52.9/56.8 dB, against 51.3/53.2 dB through swscale. Chroma that varies
          // only across makes the two agree whatever the vertical placement.
          for (int p = 1; p < 3; ++p)
            for (int y = 1; y < s.height / 2; ++y)
              std::memcpy(yuv->data[p] + y * yuv->linesize[p], yuv->data[p], s.width / 2);
        }
        std::vector<uint8_t> expected(s.rgb_bytes());
        ToRgbConverter(s).convert(*yuv, expected.data());
        YuvImage picture;
        REQUIRE(yuv_image_of(*yuv, s, &picture));
        torch::Tensor rgb = torch::empty({3, s.height, s.width});
        yuv_to_rgb_tensor(picture, rgb);
        // swscale rounds to 8 bits; the float path keeps the fraction.
        auto got = rgb.permute({1, 2, 0}).contiguous();
        auto want = torch::from_blob(expected.data(), {s.height, s.width, 3}, torch::kUInt8)
                        .to(torch::kFloat);
        CHECK((got - want).abs().max().item<float>() <= 1.5f);
        CHECK((got - want).abs().mean().item<float>() < 0.6f);
      }
    }
  }
}

TEST_CASE("float path: 4:2:0 chroma is interpolated from the centre of its rows",
          "[unit][media]") {
  // Full-range BT.601 grey with a step in Cb between chroma rows 3 and 4: luma rows 7 and 8
  // take 3/4 of their own chroma row and 1/4 of the other side's.
  FrameSize s{8, 16};
  FramePtr yuv = blank_frame(AV_PIX_FMT_YUV420P, s);
  yuv->colorspace = AVCOL_SPC_BT470BG;
  yuv->color_range = AVCOL_RANGE_JPEG;
  for (int y = 0; y < s.height; ++y) std::memset(yuv->data[0] + y * yuv->linesize[0], 128, 8);
  for (int k = 0; k < s.height / 2; ++k) {
    std::memset(yuv->data[1] + k * yuv->linesize[1], k < 4 ? 100 : 160, 4);
    std::memset(yuv->data[2] + k * yuv->linesize[2], 128, 4);
  }
  YuvImage picture;
  REQUIRE(yuv_image_of(*yuv, s, &picture));
  torch::Tensor rgb = torch::empty({3, s.height, s.width});
  yuv_to_rgb_tensor(picture, rgb);
  auto blue = [&](int y) { return rgb[2][y][3].item<float>(); };
  const float bu = 2 * (1 - 0.114f);
  CHECK(blue(0) == Approx(128 + bu * (100 - 128)).margin(1e-3));
  CHECK(blue(7) == Approx(128 + bu * (0.75f * 100 + 0.25f * 160 - 128)).margin(1e-3));
  CHECK(blue(8) == Approx(128 + bu * (0.75f * 160 + 0.25f * 100 - 128)).margin(1e-3));
  CHECK(blue(15) == Approx(128 + bu * (160 - 128)).margin(1e-3));
  // Grey stays grey: red and green carry no chroma here but Cb's share of green.
  CHECK(rgb[0][5][2].item<float>() == Approx(128).margin(1e-3));
}

TEST_CASE("float path: float RGB -> YUV agrees with swscale's conversion", "[unit][media]") {
  for (AVPixelFormat fmt : {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV444P}) {
    FrameSize s = fmt == AV_PIX_FMT_YUV444P ? FrameSize{161, 97} : FrameSize{160, 96};
    auto img = test_image(s);
    for (AVColorSpace space : {AVCOL_SPC_BT470BG, AVCOL_SPC_BT709, AVCOL_SPC_BT2020_NCL}) {
      for (AVColorRange range : {AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG}) {
        INFO(av_get_pix_fmt_name(fmt) << " " << av_color_space_name(space) << " "
                                      << av_color_range_name(range));
        ColorTags tags{space, range};
        FramePtr expected = yuv_frame(img, s, fmt, tags);
        FramePtr got = blank_frame(fmt, s);
        YuvImage picture = yuv_image_for(*got, tags);
        torch::Tensor rgb = torch::from_blob(img.data(), {s.height, s.width, 3}, torch::kUInt8)
                                .permute({2, 0, 1})
                                .to(torch::kFloat)
                                .contiguous();
        rgb_tensor_to_yuv(rgb, picture);
        CHECK(plane_diff(*got, *expected, 0, s.width, s.height) <= 1);
        // Chroma: the float path averages the samples a chroma sample covers, swscale filters
        // bicubically; on this smooth image they agree within a few levels.
        const int cw = -((-s.width) >> picture.chroma_shift_x);
        const int ch = -((-s.height) >> picture.chroma_shift_y);
        CHECK(plane_diff(*got, *expected, 1, cw, ch) <= (fmt == AV_PIX_FMT_YUV444P ? 1 : 3));
        CHECK(plane_diff(*got, *expected, 2, cw, ch) <= (fmt == AV_PIX_FMT_YUV444P ? 1 : 3));
      }
    }
  }
}

TEST_CASE("float path: out-of-range model output is clamped", "[unit][media]") {
  FrameSize s{4, 2};
  FramePtr yuv = blank_frame(AV_PIX_FMT_YUV444P, s);
  ColorTags tags{AVCOL_SPC_BT709, AVCOL_RANGE_MPEG};
  YuvImage picture = yuv_image_for(*yuv, tags);
  // Far below black and far above white: limited-range black (16) and white (235), neutral chroma.
  torch::Tensor rgb = torch::full({3, s.height, s.width}, -300.f);
  rgb.select(2, 3).fill_(1000.f);
  rgb_tensor_to_yuv(rgb, picture);
  CHECK(int(yuv->data[0][0]) == 16);
  CHECK(int(yuv->data[0][3]) == 235);
  CHECK(int(yuv->data[1][0]) == 128);
  CHECK(int(yuv->data[2][3]) == 128);
  // And back: the float path never hands the model values outside 0-255.
  torch::Tensor back = torch::empty({3, s.height, s.width});
  REQUIRE(yuv_image_of(*yuv, s, &picture));
  yuv->data[0][1] = 0;  // below limited-range black
  yuv_to_rgb_tensor(picture, back);
  CHECK(back.min().item<float>() >= 0.f);
  CHECK(back.max().item<float>() <= 255.f);
  CHECK(back[0][0][1].item<float>() == 0.f);
}

TEST_CASE("NaN and infinity from a model: written as 0, or clamped, and counted",
          "[unit][media]") {
  FrameSize s{37, 3};  // a vector's width and a tail
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Red NaN, green +infinity, blue -infinity in row 1, columns 5-30: pure green (0, 255, 0).
  // Rows 0 and 2 stay grey.
  torch::Tensor rgb = torch::full({3, s.height, s.width}, 128.f);
  rgb[0][1].slice(0, 5, 31).fill_(nan);
  rgb[1][1].slice(0, 5, 31).fill_(inf);
  rgb[2][1].slice(0, 5, 31).fill_(-inf);
  const int64_t bad = 3 * 26;

  SECTION("float path: RGB -> YUV") {
    const ColorTags tags{AVCOL_SPC_BT709, AVCOL_RANGE_JPEG};
    FramePtr yuv = blank_frame(AV_PIX_FMT_YUV444P, s);
    YuvImage picture = yuv_image_for(*yuv, tags);
    CHECK(rgb_tensor_to_yuv(rgb, picture) == bad);
    // The same bytes as pure green where the damage was, grey elsewhere.
    torch::Tensor expected = torch::full({3, s.height, s.width}, 128.f);
    expected[0][1].slice(0, 5, 31).fill_(0.f);
    expected[1][1].slice(0, 5, 31).fill_(255.f);
    expected[2][1].slice(0, 5, 31).fill_(0.f);
    FramePtr want = blank_frame(AV_PIX_FMT_YUV444P, s);
    YuvImage wanted = yuv_image_for(*want, tags);
    CHECK(rgb_tensor_to_yuv(expected, wanted) == 0);
    for (int p = 0; p < 3; ++p)
      for (int y = 0; y < s.height; ++y)
        for (int x = 0; x < s.width; ++x) {
          INFO("plane " << p << " row " << y << " column " << x);
          REQUIRE(int(yuv->data[p][y * yuv->linesize[p] + x]) ==
                  int(want->data[p][y * want->linesize[p] + x]));
        }
    CHECK(int(want->data[0][17 + want->linesize[0]]) != int(want->data[0][17]));  // green: not grey
  }
  SECTION("packed RGB24 (the GPU's path)") {
    torch::Tensor batch = torch::stack({rgb, rgb});
    std::vector<uint8_t> pixels(2 * s.rgb_bytes(), 7);
    CHECK(tensor_to_frames(batch, pixels.data(), s) == 2 * bad);
    for (int f = 0; f < 2; ++f) {
      const uint8_t* p = pixels.data() + f * s.rgb_bytes() + 3 * (s.width + 17);
      CHECK(int(p[0]) == 0);
      CHECK(int(p[1]) == 255);
      CHECK(int(p[2]) == 0);
      CHECK(int(pixels[f * s.rgb_bytes() + 3 * (s.width + 4)]) == 128);
    }
  }
}

// The conversions' row loops are vectorised (and built for AVX2 as well): compare them, pixel by
// pixel, with the definitions written out plainly, on sizes that leave odd rows, odd columns and
// vector tails, in all three chroma layouts.
namespace {

struct PlainYuv {
  int w, h, sx, sy;
  std::vector<uint8_t> planes[3];
  int cw() const { return (w + (1 << sx) - 1) >> sx; }
  int ch() const { return (h + (1 << sy) - 1) >> sy; }
  YuvImage image(float kr, float kb, bool full) {
    YuvImage img;
    img.width = w;
    img.height = h;
    img.chroma_shift_x = sx;
    img.chroma_shift_y = sy;
    img.kr = kr;
    img.kb = kb;
    img.full_range = full;
    for (int p = 0; p < 3; ++p) {
      img.plane[p] = planes[p].data();
      img.stride[p] = p ? cw() : w;
    }
    return img;
  }
};

PlainYuv random_yuv(int w, int h, int sx, int sy, uint32_t seed) {
  PlainYuv p{w, h, sx, sy, {}};
  std::mt19937 rng(seed);
  for (int k = 0; k < 3; ++k) {
    p.planes[k].resize(static_cast<size_t>(k ? p.cw() * p.ch() : w * h));
    for (auto& v : p.planes[k]) v = static_cast<uint8_t>(rng() % 256);  // out of range too
  }
  return p;
}

}  // namespace

TEST_CASE("float path: the vectorised conversions equal the plain formulas", "[unit][media]") {
  struct Case {
    int w, h, sx, sy;
  };
  const Case cases[] = {{1920, 1080, 1, 1}, {33, 17, 1, 1}, {3, 3, 1, 1}, {1, 1, 1, 1},
                        {37, 6, 1, 0},      {2, 5, 1, 0},   {19, 7, 0, 0}, {1, 1, 0, 0}};
  for (const Case& c : cases) {
    for (bool full : {false, true}) {
      INFO(c.w << "x" << c.h << " chroma shift " << c.sx << "," << c.sy << " full " << full);
      PlainYuv src = random_yuv(c.w, c.h, c.sx, c.sy, static_cast<uint32_t>(c.w * 131 + c.h));
      const float kr = 0.2126f, kb = 0.0722f, kg = 1.f - kr - kb;
      YuvImage img = src.image(kr, kb, full);
      torch::Tensor rgb = torch::empty({3, c.h, c.w});
      yuv_to_rgb_tensor(img, rgb);

      // YUV -> RGB: chroma bilinear from the centres of the samples, then the matrix, clamped.
      const float yo = full ? 0.f : 16.f, ys = full ? 1.f : 219.f / 255.f;
      const float cs = full ? 1.f : 224.f / 255.f;
      const float rv = 2.f * (1.f - kr) / cs, bu = 2.f * (1.f - kb) / cs;
      const float gu = -bu * kb / kg, gv = -rv * kr / kg;
      const int cw = src.cw(), ch = src.ch();
      auto chroma = [&](int p, int x, int y) {
        auto at = [&](int j, int k) { return static_cast<float>(src.planes[p][k * cw + j]); };
        const int k = y >> c.sy, n = c.sy ? ((y & 1) ? std::min(k + 1, ch - 1) : std::max(k - 1, 0)) : k;
        const float w0 = c.sy ? 0.75f : 1.f, w1 = c.sy ? 0.25f : 0.f;
        auto column = [&](int j) { return w0 * at(j, k) + w1 * at(j, n) - 128.f; };
        const int j = x >> c.sx;
        if (!c.sx) return column(j);
        const int m = (x & 1) ? std::min(j + 1, cw - 1) : std::max(j - 1, 0);
        return 0.75f * column(j) + 0.25f * column(m);
      };
      auto clamp = [](float v) { return std::min(std::max(v, 0.f), 255.f); };
      auto got = rgb.accessor<float, 3>();
      float worst = 0;
      for (int y = 0; y < c.h; ++y)
        for (int x = 0; x < c.w; ++x) {
          const float l = (static_cast<float>(src.planes[0][y * c.w + x]) - yo) / ys;
          const float u = chroma(1, x, y), v = chroma(2, x, y);
          const float want[3] = {clamp(l + rv * v), clamp(l + gu * u + gv * v), clamp(l + bu * u)};
          for (int p = 0; p < 3; ++p) worst = std::max(worst, std::abs(got[p][y][x] - want[p]));
        }
      CHECK(worst <= 1e-3f);

      // RGB -> YUV: luma per pixel, chroma from the average of the clamped RGB it covers, both
      // rounded half up. The model's output is any float: push some of it out of range.
      torch::Tensor out = rgb * 1.25f - 20.f;
      PlainYuv dst = random_yuv(c.w, c.h, c.sx, c.sy, 7);
      YuvImage dimg = dst.image(kr, kb, full);
      rgb_tensor_to_yuv(out, dimg);
      auto o = out.accessor<float, 3>();
      int off = 0, far = 0, samples = 0;
      auto compare = [&](uint8_t got_v, float want_v) {
        const int diff = std::abs(int(got_v) - int(std::floor(want_v)));
        off += diff > 0;
        far += diff > 1;
        ++samples;
      };
      for (int y = 0; y < c.h; ++y)
        for (int x = 0; x < c.w; ++x) {
          const float r = clamp(o[0][y][x]), g = clamp(o[1][y][x]), b = clamp(o[2][y][x]);
          compare(dst.planes[0][y * c.w + x], yo + 0.5f + ys * (kr * r + kg * g + kb * b));
        }
      for (int k = 0; k < ch; ++k)
        for (int j = 0; j < cw; ++j) {
          float r = 0, g = 0, b = 0;
          int n = 0;
          for (int y = k << c.sy; y < std::min((k + 1) << c.sy, c.h); ++y)
            for (int x = j << c.sx; x < std::min((j + 1) << c.sx, c.w); ++x, ++n) {
              r += clamp(o[0][y][x]);
              g += clamp(o[1][y][x]);
              b += clamp(o[2][y][x]);
            }
          r /= n;
          g /= n;
          b /= n;
          const float l = kr * r + kg * g + kb * b;
          compare(dst.planes[1][k * cw + j], clamp(128.5f + cs / (2.f * (1.f - kb)) * (b - l)));
          compare(dst.planes[2][k * cw + j], clamp(128.5f + cs / (2.f * (1.f - kr)) * (r - l)));
        }
      // Float rounding may put a value that sits on .5 either side: rare, and never by 2.
      CHECK(far == 0);
      CHECK(off <= samples / 1000 + 1);
    }
  }
}
