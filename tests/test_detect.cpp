// Detection end to end: geometry and order with a detector the test builds, masks as COCO RLE,
// the real YOLOX-Nano on real footage, torchvision Mask R-CNN through its operator library, and
// the detection-specific errors.
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support.h"
#include "vidscore/model/detect_task.h"
#include "vidscore/render/render.h"

using namespace vidscore::test;
using nlohmann::json;

namespace {

// A white 24x16 square moving over black: frame n has its top-left at (10 + 5n, 20 + 2n).
std::string make_square_clip(const TempDir& dir, int frames) {
  std::string clip = dir.path("square.mp4");
  ffmpeg("-f lavfi -i \"color=black:s=192x108:r=25:d=" + std::to_string(frames / 25.0) +
         ",format=rgb24[bg];color=white:s=24x16:r=25,format=rgb24[sq];"
         "[bg][sq]overlay=x='10+t*125':y='20+t*50':shortest=1:format=rgb\" "
         "-f lavfi -i sine=duration=" + std::to_string(frames / 25.0) +
         " -pix_fmt yuv444p -c:v libx264 -qp 0 -c:a aac " + quote(clip));
  return clip;
}

// TorchScript: the bounding box of the bright pixels of each frame, in the yolov5 layout
// [B, 1, 5+1] (cx, cy, w, h, objectness, one class score).
const char* kBrightBoxYolo = R"(
def forward(self, x):
    b = x.size(0)
    h = x.size(2)
    w = x.size(3)
    bright = x.mean(1) > 200.0
    xs = torch.arange(w).float().view(1, 1, w).expand(b, h, w)
    ys = torch.arange(h).float().view(1, h, 1).expand(b, h, w)
    big = torch.full_like(xs, 1.0e9)
    x1 = torch.where(bright, xs, big).flatten(1).min(1)[0]
    y1 = torch.where(bright, ys, big).flatten(1).min(1)[0]
    x2 = torch.where(bright, xs, -big).flatten(1).max(1)[0] + 1.0
    y2 = torch.where(bright, ys, -big).flatten(1).max(1)[0] + 1.0
    found = bright.flatten(1).any(1).float()
    row = torch.stack([(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1, found, found * 0.0 + 1.0], 1)
    return row.view(b, 1, 6)
)";

// The same in the torchvision layout, with the bright pixels as the mask.
const char* kBrightBoxTorchvision = R"(
def forward(self, x):
    out: List[Dict[str, Tensor]] = []
    h = x.size(2)
    w = x.size(3)
    for i in range(x.size(0)):
        bright = x[i].mean(0) > 200.0
        xs = torch.arange(w).float().view(1, w).expand(h, w)
        ys = torch.arange(h).float().view(h, 1).expand(h, w)
        big = torch.full_like(xs, 1.0e9)
        box = torch.stack([torch.where(bright, xs, big).min(), torch.where(bright, ys, big).min(),
                           torch.where(bright, xs, -big).max() + 1.0,
                           torch.where(bright, ys, -big).max() + 1.0]).view(1, 4)
        d: Dict[str, Tensor] = {}
        d["boxes"] = box
        d["labels"] = torch.ones([1]).long()
        d["scores"] = torch.full([1], 0.9)
        d["masks"] = bright.float().view(1, 1, h, w)
        out.append(d)
    return out
)";

// The shared YOLOX-Nano's settings (the export's layout, input and padding, COCO names).
json yolox_json(const std::string& shared) {
  return json{{"task", "detect"},
              {"detect",
               {{"layout", "yolov5"},
                {"input_size", {416, 416}},
                {"pad_value", 114},
                {"class_names", shared + "/models/coco80.names"}}}};
}

std::string yolox_config(const TempDir& dir, const std::string& shared) {
  std::string config = dir.path("yolox.json");
  std::ofstream(config) << yolox_json(shared).dump();
  return config;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return json::parse(in);
}

}  // namespace

TEST_CASE("a moving square is found where it is, in order, on 1 and 3 ranks", "[detect][mpi]") {
  TempDir dir;
  const int frames = 27;
  std::string clip = make_square_clip(dir, frames);
  std::string model = dir.path("bright_box.ts.pt");
  save_scripted(kBrightBoxYolo, model);
  for (int ranks : {1, 3}) {
    INFO(ranks << " ranks");
    std::string out = dir.path("boxes" + std::to_string(ranks) + ".mp4");
    auto r = run_vidscore_mpi(ranks, "--task detect --model " + quote(model) + " --input " +
                                         quote(clip) + " --output " + quote(out) +
                                         " --batch-size 2 --segment-frames 2 --threads 1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    json j = read_json(dir.path("boxes" + std::to_string(ranks) + ".json"));
    REQUIRE(j["frames"].size() == frames);
    CHECK(j["frame_count"] == frames);
    CHECK(j["video"]["width"] == 192);
    for (int n = 0; n < frames; ++n) {
      const json& f = j["frames"][n];
      INFO("frame " << n << ": " << f.dump());
      CHECK(f["frame"] == n);
      CHECK(f["pts_time"].get<double>() == Approx(n / 25.0).margin(1e-3));
      REQUIRE(f["detections"].size() == 1);
      const json& bbox = f["detections"][0]["bbox"];
      CHECK(std::abs(bbox[0].get<double>() - (10 + 5 * n)) <= 2.0);
      CHECK(std::abs(bbox[1].get<double>() - (20 + 2 * n)) <= 2.0);
      CHECK(std::abs(bbox[2].get<double>() - 24) <= 2.0);
      CHECK(std::abs(bbox[3].get<double>() - 16) <= 2.0);
      CHECK(f["detections"][0]["category_id"] == 0);
    }
    // The annotated video keeps the frame count and the audio.
    CHECK(probe_video(out).frame_times.size() == frames);
    CHECK(audio_packets_md5(out) == audio_packets_md5(clip));
  }
}

TEST_CASE("model streams: batches run at once come back in order", "[detect]") {
  // Batches of one frame on 2 and 3 streams: every frame's box must be where that frame's square
  // is, and the annotated video (drawn by the streams, encoded in order) equal to one stream's.
  TempDir dir;
  const int frames = 27;
  std::string clip = make_square_clip(dir, frames);
  std::string model = dir.path("bright_box.ts.pt");
  save_scripted(kBrightBoxYolo, model);
  std::vector<std::vector<uint8_t>> one_stream;
  for (int streams : {1, 2, 3}) {
    INFO(streams << " streams");
    std::string name = "streams" + std::to_string(streams);
    auto r = run_vidscore("--task detect --model " + quote(model) + " --input " + quote(clip) +
                          " --output " + quote(dir.path(name + ".mp4")) +
                          " --batch-size 1 --segment-frames 9 --threads " +
                          std::to_string(streams) + " --streams " + std::to_string(streams));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    json j = read_json(dir.path(name + ".json"));
    REQUIRE(j["frames"].size() == frames);
    for (int n = 0; n < frames; ++n) {
      const json& f = j["frames"][n];
      INFO("frame " << n << ": " << f.dump());
      CHECK(f["frame"] == n);
      CHECK(f["pts_time"].get<double>() == Approx(n / 25.0).margin(1e-3));
      REQUIRE(f["detections"].size() == 1);
      CHECK(std::abs(f["detections"][0]["bbox"][0].get<double>() - (10 + 5 * n)) <= 2.0);
      CHECK(std::abs(f["detections"][0]["bbox"][1].get<double>() - (20 + 2 * n)) <= 2.0);
    }
    auto pixels = decode_rgb(dir.path(name + ".mp4"), 192, 108);
    REQUIRE(pixels.size() == frames);
    if (streams == 1)
      one_stream = pixels;
    else
      for (int n = 0; n < frames; ++n) CHECK(pixels[n] == one_stream[n]);
  }
}

TEST_CASE("letterboxing maps boxes back to frame pixels", "[detect]") {
  TempDir dir;
  std::string clip = make_square_clip(dir, 12);
  std::string model = dir.path("bright_box.ts.pt");
  save_scripted(kBrightBoxYolo, model);
  std::string config = dir.path("letterbox.json");
  std::ofstream(config) << R"({"task": "detect", "detect": {"layout": "yolov5",
      "input_size": [160, 160], "resize": "letterbox", "pad_value": 0, "write_video": false}})";
  std::string out = dir.path("boxes.json");
  auto r = run_vidscore("--config " + quote(config) + " --model " + quote(model) + " --input " +
                        quote(clip) + " --output " + quote(out));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  json j = read_json(out);
  REQUIRE(j["frames"].size() == 12);
  for (int n = 0; n < 12; ++n) {
    const json& bbox = j["frames"][n]["detections"][0]["bbox"];
    INFO("frame " << n << ": " << bbox.dump());
    CHECK(std::abs(bbox[0].get<double>() - (10 + 5 * n)) <= 2.0);
    CHECK(std::abs(bbox[1].get<double>() - (20 + 2 * n)) <= 2.0);
    CHECK(std::abs(bbox[2].get<double>() - 24) <= 2.5);
    CHECK(std::abs(bbox[3].get<double>() - 16) <= 2.5);
  }
  CHECK_FALSE(file_exists(dir.path("boxes.mp4")));
}

TEST_CASE("torchvision layout with masks: RLE decodes back to the square", "[detect]") {
  TempDir dir;
  std::string clip = make_square_clip(dir, 6);
  std::string model = dir.path("bright_mask.ts.pt");
  save_scripted(kBrightBoxTorchvision, model);
  std::string config = dir.path("tv.json");
  std::ofstream(config) << R"({"task": "detect", "detect": {"layout": "torchvision"}})";
  std::string out = dir.path("masks.mp4");
  auto r = run_vidscore("--config " + quote(config) + " --model " + quote(model) + " --input " +
                        quote(clip) + " --output " + quote(out));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  json j = read_json(dir.path("masks.json"));
  REQUIRE(j["frames"].size() == 6);
  for (int n = 0; n < 6; ++n) {
    INFO("frame " << n);
    const json& d = j["frames"][n]["detections"][0];
    CHECK(d["category_id"] == 1);
    CHECK(d["score"].get<double>() == Approx(0.9));
    vidscore::CocoRle rle{d["mask"]["size"][0], d["mask"]["size"][1], d["mask"]["counts"]};
    REQUIRE(rle.height == 108);
    REQUIRE(rle.width == 192);
    std::vector<uint8_t> mask = vidscore::decode_rle(rle);
    int wrong = 0;
    for (int y = 0; y < 108; ++y)
      for (int x = 0; x < 192; ++x) {
        bool inside = x >= 10 + 5 * n && x < 34 + 5 * n && y >= 20 + 2 * n && y < 36 + 2 * n;
        wrong += (mask[y * 192 + x] != 0) != inside;
      }
    CHECK(wrong == 0);
  }
  // The mask is drawn: pixels of the square are tinted, not white any more.
  auto frames = decode_rgb(out, 192, 108);
  REQUIRE(frames.size() == 6);
  const uint8_t* p = &frames[0][(28 * 192 + 20) * 3];
  CHECK_FALSE((p[0] > 240 && p[1] > 240 && p[2] > 240));
}

TEST_CASE("YOLOX-Nano finds people in friday.mp4", "[detect][real][slow]") {
  std::string shared = shared_dir();
  if (shared.empty()) {
    std::cout << "VIDSCORE_SKIPPED: ../shared (models, media) not found" << std::endl;
    return;
  }
  TempDir dir;
  std::string out = dir.path("friday_det.mp4");
  std::string input = shared + "/media/friday.mp4";
  std::string config = yolox_config(dir, shared);
  auto r = run_vidscore_mpi(2, "--config " + quote(config) + " --model " +
                                   quote(shared + "/models/yolox_nano_coco.ts.pt") + " --input " +
                                   quote(input) + " --output " + quote(out) + " --threads 1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  json j = read_json(dir.path("friday_det.json"));
  REQUIRE(j["frames"].size() == 185);
  CHECK(j["categories"].size() == 80);
  CHECK(j["categories"][0]["name"] == "person");
  int with_person = 0;
  for (size_t n = 0; n < 185; ++n) {
    const json& f = j["frames"][n];
    CHECK(f["frame"] == n);
    bool person = false;
    for (const json& d : f["detections"]) {
      double x = d["bbox"][0], y = d["bbox"][1], w = d["bbox"][2], h = d["bbox"][3];
      CHECK((x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 640.01 && y + h <= 480.01));
      person |= d["category"] == "person";
    }
    with_person += person;
  }
  CHECK(with_person >= 0.8 * 185);
  CHECK(probe_video(out).frame_times.size() == 185);
  CHECK(audio_packets_md5(out) == audio_packets_md5(input));
}

TEST_CASE("YOLOX-Nano on two model streams gives one stream's detections", "[detect][real]") {
  // The real model, frozen and optimised, with two forwards at once on one module.
  std::string shared = shared_dir();
  if (shared.empty()) {
    std::cout << "VIDSCORE_SKIPPED: ../shared (models, media) not found" << std::endl;
    return;
  }
  TempDir dir;
  std::string input = dir.path("friday_cut.mp4");
  ffmpeg("-i " + quote(shared + "/media/friday.mp4") + " -frames:v 30 -an -c:v libx264 " +
         quote(input));
  json cfg = yolox_json(shared);
  cfg["model"]["batch_size"] = 2;
  cfg["detect"]["write_video"] = false;
  std::string config = dir.path("yolox.json");
  std::ofstream(config) << cfg.dump();
  std::string text[2];
  for (int streams : {1, 2}) {
    std::string out = dir.path("det" + std::to_string(streams) + ".json");
    auto r = run_vidscore("--config " + quote(config) + " --model " +
                          quote(shared + "/models/yolox_nano_coco.ts.pt") + " --input " +
                          quote(input) + " --output " + quote(out) + " --threads 2 --streams " +
                          std::to_string(streams) + " --device cpu");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    std::ifstream in(out);
    text[streams - 1].assign(std::istreambuf_iterator<char>(in), {});
  }
  json j = json::parse(text[0]);
  REQUIRE(j["frames"].size() == 30);
  int boxes = 0;
  for (const json& f : j["frames"]) boxes += static_cast<int>(f["detections"].size());
  CHECK(boxes >= 30);  // people in every frame
  CHECK(text[0] == text[1]);
}

TEST_CASE("torchvision Mask R-CNN from the export helper runs with its operator library",
          "[detect][slow]") {
  const std::string ops =
      "/usr/lib/python3/dist-packages/torchvision/_C.cpython-311-x86_64-linux-gnu.so";
  if (!file_exists(ops) || !file_exists("/usr/bin/python3")) {
    std::cout << "VIDSCORE_SKIPPED: Debian's python3-torchvision is not installed" << std::endl;
    return;
  }
  TempDir dir;
  std::string model = dir.path("maskrcnn.ts.pt");
  auto e = run("/usr/bin/python3 " + quote(std::string(VIDSCORE_SOURCE_DIR) +
                                           "/scripts/export_torchvision_detector.py") +
               " maskrcnn_resnet50_fpn " + quote(model) + " --min-size 96 --max-size 128");
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  std::string clip = dir.path("tiny.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=128x96:rate=5:duration=0.2 -c:v libx264 " + quote(clip));
  std::string config = dir.path("mrcnn.json");
  std::ofstream(config) << json{{"task", "detect"},
                                {"detect",
                                 {{"layout", "torchvision"},
                                  {"score_threshold", 0.0},
                                  {"operator_libraries", {ops}},
                                  {"write_video", false}}}}
                               .dump();
  std::string out = dir.path("mrcnn.json.out.json");
  auto r = run_vidscore("--config " + quote(config) + " --model " + quote(model) + " --input " +
                        quote(clip) + " --output " + quote(out) + " --batch-size 1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_json(out)["frames"].size() == 1);

  // Without the operator library the error names the missing operator.
  std::ofstream(config) << json{{"task", "detect"}, {"detect", {{"layout", "torchvision"}}}}.dump();
  auto r2 = run_vidscore("--config " + quote(config) + " --model " + quote(model) + " --input " +
                         quote(clip) + " --output " + quote(dir.path("x.mp4")));
  INFO(r2.output);
  CHECK(r2.exit_code == 2);
  CHECK_THAT(r2.output, Catch::Contains("vidscore: error: model " + model +
                                        " needs operator torchvision::nms, which no loaded "
                                        "library provides"));
}

TEST_CASE("detection errors", "[detect][errors]") {
  TempDir dir;
  std::string clip = make_square_clip(dir, 4);
  std::string out = dir.path("out.mp4");
  auto run_detect = [&](const std::string& model, const std::string& detect_json) {
    std::string config = dir.path("c.json");
    std::ofstream(config) << "{\"task\": \"detect\", \"detect\": " + detect_json + "}";
    return run_vidscore("--config " + quote(config) + " --model " + quote(model) + " --input " +
                        quote(clip) + " --output " + quote(out));
  };
  auto no_output = [&] {
    CHECK_FALSE(file_exists(out));
    CHECK_FALSE(file_exists(dir.path("out.json")));
    CHECK(files_with_prefix(dir.path(""), "out.").empty());
  };
  SECTION("output that fits no layout gives expected and actual shapes") {
    std::string model = dir.path("cls.ts.pt");
    save_scripted("def forward(self, x):\n    return x.mean(dim=[2, 3])\n", model);
    auto r = run_detect(model, R"({"layout": "yolov5"})");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("vidscore: error: model " + model +
                                         ": output does not fit detect layout \"yolov5\": expected "
                                         "a tensor of shape [1, N, 5+C], got a tensor of shape "
                                         "[1, 3]"));
    no_output();
  }
  SECTION("a class names file with the wrong count") {
    std::string model = dir.path("box.ts.pt");
    save_scripted(kBrightBoxYolo, model);
    std::string names = dir.path("three.names");
    std::ofstream(names) << "cat\ndog\nbird\n";
    auto r = run_detect(model, "{\"class_names\": " + json(names).dump() + "}");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("vidscore: error: class names " + names +
                                         ": the file has 3 names, the model outputs 1 classes"));
    no_output();
  }
  SECTION("a missing operator library") {
    std::string model = dir.path("box.ts.pt");
    save_scripted(kBrightBoxYolo, model);
    std::string lib = dir.path("libmissing_ops.so");
    auto r = run_detect(model, "{\"operator_libraries\": [" + json(lib).dump() + "]}");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("vidscore: error: operator library " + lib +
                                         ": No such file or directory"));
    no_output();
  }
}

TEST_CASE("detection JSON prints rounded decimals", "[detect][unit]") {
  using namespace vidscore;
  Detection d;
  d.x1 = 232.22999999f;
  d.y1 = 10.0f / 3.0f;
  d.x2 = 300.125f;
  d.y2 = 100.0f;
  d.score = 0.876543f;
  d.class_id = 0;
  std::string text = detections_to_json({d}, 640, 480, {"person"});
  CHECK_THAT(text, Catch::Contains("\"bbox\":[232.23,3.33,67.9,96.67]"));
  CHECK_THAT(text, Catch::Contains("\"score\":0.8765"));
}
