// Classify and embed, end to end: image folders against an independent Python reference (PIL +
// torchvision transforms + the same TorchScript model, scripts/reference_scores.py), bad images
// among good ones on 3 ranks, embeddings equal across rank counts, and video frames.
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support.h"
#include <catch2/catch.hpp>

using namespace vidscore::test;
using nlohmann::json;

namespace {

const std::string kOpenCvData = "/usr/share/doc/opencv-doc/examples/data";

std::string squeezenet() { return shared_dir() + "/models/squeezenet1_1_imagenet.ts.pt"; }
std::string imagenet_names() { return shared_dir() + "/models/imagenet1000.names"; }

bool have_prerequisites() {
  if (shared_dir().empty()) {
    std::cout << "VIDSCORE_SKIPPED: ../shared (models, media) not found" << std::endl;
    return false;
  }
  if (run("/usr/bin/python3 -c 'import torchvision, PIL, numpy'").exit_code != 0 ||
      !file_exists(kOpenCvData + "/squirrel_cls.jpg")) {
    std::cout << "VIDSCORE_SKIPPED: needs python3-torchvision, python3-pil, python3-numpy and "
                 "opencv-doc (scripts/install-deps.sh --tests)" << std::endl;
    return false;
  }
  return true;
}

std::vector<json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A folder of real photos: OpenCV's sample JPEGs and frames cut from ../shared/media clips at
// mixed sizes (landscape, portrait, small, large).
void make_photo_folder(const std::string& dir) {
  run("mkdir -p " + quote(dir + "/opencv") + " " + quote(dir + "/frames/sub"));
  for (const char* name :
       {"squirrel_cls.jpg", "messi5.jpg", "baboon.jpg", "fruits.jpg", "orange.jpg", "apple.jpg",
        "butterfly.jpg", "starry_night.jpg", "home.jpg", "building.jpg", "board.jpg",
        "aero1.jpg", "HappyFish.jpg", "Blender_Suzanne1.jpg", "ela_original.jpg", "blox.jpg",
        "left01.jpg", "graf1.png", "pic1.png", "smarties.png", "sudoku.png", "box.png",
        "cards.png", "basketball1.png", "licenseplate_motion.jpg", "stuff.jpg", "leuvenA.jpg"})
    if (file_exists(kOpenCvData + "/" + name))
      run("cp " + quote(kOpenCvData + "/" + name) + " " + quote(dir + "/opencv/"));
  const std::string media = shared_dir() + "/media";
  struct Cut { std::string clip, scale, name; };
  const std::vector<Cut> cuts = {{"flower.mp4", "960:540", "flower"},
                                 {"friday.mp4", "400:600", "friday_portrait"},
                                 {"stream-of-water.webm", "320:180", "water_small"},
                                 {"more/chaplin.mp4", "1280:720", "chaplin"},
                                 {"more/big_buck_bunny_0_30.webm", "777:333", "bunny_wide"}};
  for (const auto& c : cuts)
    ffmpeg("-i " + quote(media + "/" + c.clip) + " -vf select='not(mod(n\\,9))',scale=" + c.scale +
           " -vsync vfr -frames:v 9 -q:v 3 " +
           quote(dir + "/frames/" + (c.name == "chaplin" ? "sub/" : "") + c.name + "_%02d.jpg"));
}

// The reference's JSON lines for `images` (paths), keyed by path.
std::map<std::string, json> reference(const std::vector<std::string>& images,
                                      const TempDir& dir, const std::string& extra = "") {
  std::string args;
  for (const auto& p : images) args += " " + quote(p);
  const std::string out = dir.path("reference.jsonl");
  CommandResult r = run("/usr/bin/python3 " + quote(std::string(VIDSCORE_SOURCE_DIR) +
                                                    "/scripts/reference_scores.py") +
                        " " + quote(squeezenet()) + " " + quote(out) + " --top-k 5 " + extra + args);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, json> by_path;
  for (auto& line : read_lines(out)) by_path[line["path"].get<std::string>()] = line;
  return by_path;
}

struct Agreement {
  int images = 0, top1_same = 0;
  double max_score_difference = 0;
};

// Compares vidscore's lines (paths relative to `root`) with the reference's (full paths).
Agreement compare(const std::vector<json>& mine, const std::map<std::string, json>& ref,
                  const std::string& root) {
  Agreement a;
  for (const auto& line : mine) {
    const std::string path = root + "/" + line["path"].get<std::string>();
    INFO(path);
    if (line.contains("error") && !ref.count(path)) continue;  // not given to the reference
    REQUIRE(ref.count(path));
    const json& r = ref.at(path);
    if (r.contains("error")) {
      CHECK(line.contains("error"));
      continue;
    }
    REQUIRE(line.contains("classes"));
    ++a.images;
    const auto& c = line["classes"];
    a.top1_same += c[0]["id"] == r["classes"][0]["id"];
    // Scores of the same classes, by id.
    std::map<int, double> scores;
    for (const auto& k : c) scores[k["id"].get<int>()] = k["score"].get<double>();
    for (const auto& k : r["classes"])
      if (scores.count(k["id"].get<int>()))
        a.max_score_difference = std::max(
            a.max_score_difference, std::abs(scores[k["id"].get<int>()] - k["score"].get<double>()));
  }
  return a;
}

std::vector<std::string> files_under(const std::string& dir) {
  CommandResult r = run("find " + quote(dir) + " -type f | sort");
  std::vector<std::string> files;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) files.push_back(line);
  return files;
}

std::string model_args() {
  return "--task classify --model " + quote(squeezenet()) + " --class-names " +
         quote(imagenet_names());
}

}  // namespace

TEST_CASE("SqueezeNet on a folder of real photos agrees with PIL + torchvision", "[real][slow]") {
  if (!have_prerequisites()) return;
  TempDir dir;
  const std::string photos = dir.path("photos");
  make_photo_folder(photos);
  const std::vector<std::string> files = files_under(photos);
  REQUIRE(files.size() >= 60);
  const std::string out = dir.path("classes.jsonl");
  CommandResult r = run_vidscore_mpi(2, model_args() + " --input " + quote(photos) +
                                            " --output " + quote(out));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("done: " + std::to_string(files.size()) + " of " +
                                       std::to_string(files.size()) + " images scored, 0 failed"));
  const std::vector<json> mine = read_lines(out);
  REQUIRE(mine.size() == files.size());
  // In the folder's order, with paths relative to it.
  for (size_t i = 0; i < files.size(); ++i)
    CHECK(photos + "/" + mine[i]["path"].get<std::string>() == files[i]);
  Agreement a = compare(mine, reference(files, dir), photos);
  std::cout << "real photos: " << a.images << " images, top-1 agrees on " << a.top1_same
            << ", largest score difference " << a.max_score_difference << std::endl;
  CHECK(a.images == static_cast<int>(files.size()));
  CHECK(a.top1_same >= 0.99 * a.images);
  CHECK(a.max_score_difference <= 1e-3);
  // OpenCV's squirrel.
  for (const auto& line : mine)
    if (line["path"] == "opencv/squirrel_cls.jpg") {
      CHECK_THAT(line["classes"][0]["name"].get<std::string>(), Catch::StartsWith("fox squirrel"));
      CHECK(line["classes"][0]["score"].get<double>() > 0.99);
    }
}

TEST_CASE("bad images among good ones on 3 ranks: each named with its reason, exit 4",
          "[mpi][slow]") {
  if (!have_prerequisites()) return;
  TempDir dir;
  const std::string folder = dir.path("mixed");
  run("mkdir -p " + quote(folder));
  for (const char* name : {"squirrel_cls.jpg", "messi5.jpg", "baboon.jpg", "fruits.jpg",
                           "orange.jpg", "butterfly.jpg", "apple.jpg", "home.jpg"})
    run("cp " + quote(kOpenCvData + "/" + name) + " " + quote(folder + "/"));
  const std::vector<uint8_t> messi = read_bytes(kOpenCvData + "/messi5.jpg");
  {
    std::ofstream(folder + "/truncated.jpg", std::ios::binary)
        .write(reinterpret_cast<const char*>(messi.data()), messi.size() / 2);
    std::ofstream(folder + "/notes.jpg") << "this is a text file, not a picture\n";
    std::ofstream(folder + "/empty.png");
  }
  CommandResult py = run("/usr/bin/python3 -c " + quote(
      "from PIL import Image\n"
      "Image.new('RGB', (1, 1), (200, 30, 40)).save('" + folder + "/one_pixel.png')\n"
      "Image.open('" + kOpenCvData + "/fruits.jpg').convert('CMYK').save('" + folder +
      "/cmyk.jpg', quality=92)\n"
      "src = Image.open('" + kOpenCvData + "/baboon.jpg').convert('RGB')\n"
      "ex = Image.Exif(); ex[0x0112] = 6\n"
      "src.save('" + folder + "/turned.jpg', exif=ex.tobytes())\n"));
  REQUIRE(py.exit_code == 0);
  ffmpeg("-i " + quote(kOpenCvData + "/starry_night.jpg") + " -pix_fmt rgb48be " +
         quote(folder + "/deep16.png"));
  const std::vector<std::string> files = files_under(folder);
  REQUIRE(files.size() == 15);

  const std::string out = dir.path("classes.jsonl");
  CommandResult r = run_vidscore_mpi(3, model_args() + " --batch-size 3 --input " +
                                            quote(folder) + " --output " + quote(out));
  INFO(r.output);
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.output, Catch::Contains("done: 12 of 15 images scored, 3 failed"));
  CHECK_THAT(r.output, Catch::Contains("truncated.jpg: truncated JPEG: Premature end of JPEG file"));
  CHECK_THAT(r.output, Catch::Contains("notes.jpg: not an image FFmpeg can read"));
  CHECK_THAT(r.output, Catch::Contains("empty.png: empty file"));
  CHECK_THAT(r.output, Catch::Contains("3 of 15 images could not be scored"));
  // Every rank had a share.
  CHECK_THAT(r.output, Catch::Matches(R"([\s\S]*images per rank: 0: \d+ \(\d+ segments\), 1: [1-9]\d* \(\d+ segments\), 2: [1-9][\s\S]*)"));
  const std::vector<json> mine = read_lines(out);
  REQUIRE(mine.size() == files.size());
  std::map<std::string, std::string> errors;
  for (const auto& line : mine)
    if (line.contains("error")) errors[line["path"]] = line["error"];
  CHECK(errors.size() == 3);
  CHECK_THAT(errors["truncated.jpg"], Catch::Contains("truncated JPEG"));
  CHECK_THAT(errors["notes.jpg"], Catch::Contains("not an image"));
  CHECK(errors["empty.png"] == "empty file");
  // The good ones (the 1x1, CMYK, turned and 16-bit ones included) are right.
  std::vector<std::string> good;
  for (const auto& f : files)
    if (!errors.count(f.substr(folder.size() + 1))) good.push_back(f);
  Agreement a = compare(mine, reference(good, dir), folder);
  CHECK(a.images == 12);
  CHECK(a.top1_same == 12);
  CHECK(a.max_score_difference <= 1e-3);
  CHECK(files_with_prefix(dir.path(""), "classes.jsonl.partial").empty());
}

TEST_CASE("embed on 3 ranks equals embed on 1 rank bit for bit, and numpy loads it", "[mpi][slow]") {
  if (!have_prerequisites()) return;
  TempDir dir;
  const std::string folder = dir.path("photos");
  run("mkdir -p " + quote(folder + "/a") + " " + quote(folder + "/b"));
  int n = 0;
  for (const char* name : {"squirrel_cls.jpg", "messi5.jpg", "baboon.jpg", "fruits.jpg",
                           "orange.jpg", "butterfly.jpg", "apple.jpg", "board.jpg", "home.jpg",
                           "building.jpg", "aero1.jpg", "stuff.jpg", "smarties.png", "pic1.png"})
    run("cp " + quote(kOpenCvData + "/" + name) + " " + quote(folder + ((n++ % 2) ? "/a/" : "/b/")));
  std::ofstream(folder + "/a/broken.jpg") << "not a jpeg";
  // One intra-op thread per rank in both runs: the model's own reductions depend on the thread
  // count (about 4e-7 here), nothing else may.
  const std::string args = "--task embed --model " + quote(squeezenet()) +
                           " --threads 1 --batch-size 4 --input " + quote(folder);
  CommandResult one = run_vidscore_mpi(1, args + " --output " + quote(dir.path("one.npy")));
  INFO(one.output);
  CHECK(one.exit_code == 4);
  CommandResult three = run_vidscore_mpi(3, args + " --output " + quote(dir.path("three.npy")));
  INFO(three.output);
  CHECK(three.exit_code == 4);
  CHECK_THAT(three.output, Catch::Contains("done: 14 of 15 images scored, 1 failed"));
  CHECK(read_bytes(dir.path("one.npy")) == read_bytes(dir.path("three.npy")));
  CHECK(read_bytes(dir.path("one.index.jsonl")) == read_bytes(dir.path("three.index.jsonl")));
  const std::vector<json> index = read_lines(dir.path("three.index.jsonl"));
  REQUIRE(index.size() == 15);
  CHECK(index[0]["path"] == "a/board.jpg");
  CHECK(index[0]["row"] == 0);
  int failed = 0;
  for (const auto& line : index)
    if (line["row"].is_null()) {
      ++failed;
      CHECK(line["path"] == "a/broken.jpg");
      CHECK_THAT(line["error"].get<std::string>(), Catch::Contains("not an image"));
    }
  CHECK(failed == 1);

  // numpy reads it, and its rows are the reference's (same images, same order).
  std::vector<std::string> good;
  for (const auto& line : index)
    if (!line["row"].is_null()) good.push_back(folder + "/" + line["path"].get<std::string>());
  reference(good, dir, "--embed " + quote(dir.path("reference.npy")));
  CommandResult check = run("/usr/bin/python3 -c " + quote(
      "import numpy as np\n"
      "a = np.load('" + dir.path("three.npy") + "')\n"
      "r = np.load('" + dir.path("reference.npy") + "')\n"
      "print(a.shape, a.dtype, float(np.abs(a - r).max()))\n"
      "assert a.shape == (14, 1000) and a.dtype == np.float32\n"
      "assert np.abs(a - r).max() < 1e-5\n"));
  INFO(check.output);
  CHECK(check.exit_code == 0);

  // float16, L2-normalised.
  std::ofstream(dir.path("c.json")) << R"({"task": "embed", "embed": {"dtype": "float16", "normalize": true}})";
  CommandResult half = run_vidscore_mpi(2, "--config " + quote(dir.path("c.json")) + " --model " +
                                 quote(squeezenet()) + " --input " + quote(folder) + " --output " +
                                 quote(dir.path("half.npy")));
  INFO(half.output);
  CHECK(half.exit_code == 4);
  CommandResult norms = run("/usr/bin/python3 -c " + quote(
      "import numpy as np\n"
      "a = np.load('" + dir.path("half.npy") + "')\n"
      "r = np.load('" + dir.path("reference.npy") + "')\n"
      "r = r / np.linalg.norm(r, axis=1, keepdims=True)\n"
      "assert a.dtype == np.float16 and a.shape == (14, 1000), a.dtype\n"
      "assert np.abs(np.linalg.norm(a.astype(np.float32), axis=1) - 1).max() < 1e-2\n"
      "assert np.abs(a.astype(np.float32) - r).max() < 1e-3\n"));
  INFO(norms.output);
  CHECK(norms.exit_code == 0);
}

TEST_CASE("classify and embed the frames of a video, on 1 and 2 ranks", "[mpi][slow]") {
  if (!have_prerequisites()) return;
  TempDir dir;
  const std::string clip = dir.path("clip.mp4");
  ffmpeg("-i " + quote(shared_dir() + "/media/flower.mp4") +
         " -t 2 -vf scale=480:270 -c:v libx264 -g 12 -bf 3 -an " + quote(clip));
  const VideoProbe probe = probe_video(clip);
  REQUIRE(probe.frame_times.size() == 60);

  // Classes: one JSON document, a frame per entry with its time.
  const std::string json_out = dir.path("clip.json");
  CommandResult c = run_vidscore_mpi(2, model_args() + " --top-k 3 --segment-frames 12 --input " +
                                            quote(clip) + " --output " + quote(json_out));
  INFO(c.output);
  REQUIRE(c.exit_code == 0);
  json doc = json::parse(std::ifstream(json_out));
  CHECK(doc["frame_count"] == 60);
  REQUIRE(doc["frames"].size() == 60);
  CHECK(doc["categories"].size() == 1000);
  for (size_t i = 0; i < 60; ++i) {
    CHECK(doc["frames"][i]["frame"] == i);
    CHECK(std::abs(doc["frames"][i]["pts_time"].get<double>() - probe.frame_times[i]) < 1e-3);
    CHECK(doc["frames"][i]["classes"].size() == 3);
  }

  // Embeddings: the same rows on 1 and 2 ranks, a row per frame in order.
  const std::string args = "--task embed --model " + quote(squeezenet()) +
                           " --threads 1 --segment-frames 12 --input " + quote(clip);
  CommandResult e1 = run_vidscore_mpi(1, args + " --output " + quote(dir.path("one.npy")));
  INFO(e1.output);
  REQUIRE(e1.exit_code == 0);
  CHECK_THAT(e1.output, Catch::Contains("one.npy + " + dir.path("one.index.jsonl")));
  CommandResult e2 = run_vidscore_mpi(2, args + " --output " + quote(dir.path("two.npy")));
  INFO(e2.output);
  REQUIRE(e2.exit_code == 0);
  CHECK(read_bytes(dir.path("one.npy")) == read_bytes(dir.path("two.npy")));
  const std::vector<json> index = read_lines(dir.path("two.index.jsonl"));
  REQUIRE(index.size() == 60);
  for (size_t i = 0; i < 60; ++i) {
    CHECK(index[i]["row"] == i);
    CHECK(index[i]["frame"] == i);
    CHECK(index[i]["input"] == clip);
  }
  CommandResult np = run("/usr/bin/python3 -c " + quote(
      "import numpy as np\n"
      "a = np.load('" + dir.path("two.npy") + "')\n"
      "assert a.shape == (60, 1000), a.shape\n"
      "assert abs(a.sum(axis=1) - 1).max() < 1e-3\n"));  // SqueezeNet's rows are probabilities
  INFO(np.output);
  CHECK(np.exit_code == 0);
}

TEST_CASE("classify and embed refuse what they cannot do, up front", "[errors]") {
  if (!have_prerequisites()) return;
  TempDir dir;
  run("mkdir -p " + quote(dir.path("photos")) + " && cp " +
      quote(kOpenCvData + "/squirrel_cls.jpg") + " " + quote(dir.path("photos/")));
  const std::string in = " --input " + quote(dir.path("photos"));
  // Class names that do not fit the model.
  CommandResult r = run_vidscore("--task classify --model " + quote(squeezenet()) +
                                 " --class-names " + quote(shared_dir() + "/models/coco80.names") +
                                 in + " --output " + quote(dir.path("c.jsonl")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("the file has 80 names, the model outputs 1000 classes"));
  CHECK_FALSE(file_exists(dir.path("c.jsonl")));
  // An output name that is not what the task writes, or a folder.
  r = run_vidscore("--task classify --model " + quote(squeezenet()) + in + " --output " +
                   quote(dir.path("c.mp4")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("give a name ending in .jsonl"));
  r = run_vidscore("--task embed --model " + quote(squeezenet()) + in + " --output " +
                   quote(dir.path("")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("is a folder"));
  // A model whose output has no row per picture.
  const std::string odd = dir.path("odd.pt");
  save_scripted("def forward(self, x):\n    return x.sum()\n", odd);
  r = run_vidscore("--task embed --model " + quote(odd) + in + " --output " +
                   quote(dir.path("e.npy")));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("expected one tensor with a row per picture"));
  CHECK_FALSE(file_exists(dir.path("e.npy")));
  CHECK_FALSE(file_exists(dir.path("e.index.jsonl")));
  // A video among images is skipped with a note.
  ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=10 -t 1 " + quote(dir.path("photos/clip.mp4")));
  r = run_vidscore("--task classify --model " + quote(squeezenet()) + in + " --output " +
                   quote(dir.path("c.jsonl")));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("skipped 1 video"));
  CHECK(read_lines(dir.path("c.jsonl")).size() == 1);
  // The same folder with a folder for output: the video is classified, the image skipped.
  r = run_vidscore("--task classify --model " + quote(squeezenet()) + in + " --output " +
                   quote(dir.path("out")));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("skipped 1 file"));
  CHECK(json::parse(std::ifstream(dir.path("out/clip.json")))["frame_count"] == 10);
  // A picture too thin to scale fails alone.
  run("rm " + quote(dir.path("photos/clip.mp4")));
  REQUIRE(run("/usr/bin/python3 -c " +
              quote("from PIL import Image\nImage.new('RGB', (70000, 1), (200, 0, 0)).save('" +
                    dir.path("photos/thin.png") + "')\n")).exit_code == 0);
  r = run_vidscore("--task classify --model " + quote(squeezenet()) + in + " --output " +
                   quote(dir.path("c.jsonl")));
  INFO(r.output);
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.output, Catch::Contains("thin.png: 70000x1 is too thin"));
}

TEST_CASE("logits become probabilities, with top-k, class names and letterbox", "[classify]") {
  TempDir dir;
  // A "classifier" of three classes whose logits are the picture's mean R, G, B over 50.
  const std::string model = dir.path("mean.pt");
  save_scripted("def forward(self, x):\n    return x.mean(dim=[2, 3]) / 50.0\n", model);
  std::ofstream(dir.path("rgb.names")) << "red\ngreen\nblue\n";
  std::ofstream(dir.path("c.json"))
      << R"({"task": "classify", "classify": {"output": "logits", "top_k": 2},
             "model": {"input": {"resize": "letterbox", "size": [64, 48], "pad_value": 0}}})";
  ffmpeg("-f lavfi -i color=c=0xC86432:size=90x30 -frames:v 1 -pix_fmt rgb24 " +
         quote(dir.path("solid.png")));
  CommandResult r = run_vidscore("--config " + quote(dir.path("c.json")) + " --model " +
                                 quote(model) + " --class-names " + quote(dir.path("rgb.names")) +
                                 " --input " + quote(dir.path("solid.png")) + " --output " +
                                 quote(dir.path("out.jsonl")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::vector<json> lines = read_lines(dir.path("out.jsonl"));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["path"] == dir.path("solid.png"));  // a file given by itself: as given
  const json& c = lines[0]["classes"];
  REQUIRE(c.size() == 2);
  // 90x30 letterboxed into 64x48: 64x21 of colour (200, 100, 50), the rest black padding.
  const double covered = 64.0 * 21 / (64 * 48);
  const double lr = 200 * covered / 50, lg = 100 * covered / 50, lb = 50 * covered / 50;
  const double sum = std::exp(lr) + std::exp(lg) + std::exp(lb);
  CHECK(c[0]["name"] == "red");
  CHECK(c[1]["name"] == "green");
  CHECK(c[0]["score"].get<double>() == Approx(std::exp(lr) / sum).margin(2e-6));
  CHECK(c[1]["score"].get<double>() == Approx(std::exp(lg) / sum).margin(2e-6));
  // Three names for a three-class model fit; two do not.
  std::ofstream(dir.path("two.names")) << "red\ngreen\n";
  r = run_vidscore("--config " + quote(dir.path("c.json")) + " --model " + quote(model) +
                   " --class-names " + quote(dir.path("two.names")) + " --input " +
                   quote(dir.path("solid.png")) + " --output " + quote(dir.path("bad.jsonl")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("the file has 2 names, the model outputs 3 classes"));
}
