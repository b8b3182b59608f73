// Config parsing and validation: defaults, overrides, and the exact messages for bad values.
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support.h"
#include "vidscore/config.h"
#include "vidscore/error.h"

using namespace vidscore;
using nlohmann::json;

namespace {
std::string error_of(const json& j) {
  try {
    config_from_json(j, "c.json", "/base");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("config defaults and values", "[unit][config]") {
  SECTION("empty object gives the documented defaults") {
    Config c = config_from_json(json::object(), "c.json", "");
    CHECK(c.task == "style");
    CHECK(c.device == "auto");
    CHECK(c.batch_size == 0);  // auto
    CHECK(c.crf == 18);
    CHECK(c.preset == "medium");
    CHECK(c.transport == "auto");
    CHECK(c.effective_segment_frames(25.0, 2) == 50);  // 2 s on several ranks
    CHECK(c.effective_segment_frames(30000.0 / 1001, 4) == 60);
    CHECK(c.effective_segment_frames(0.0, 2) == 50);
    CHECK(c.effective_segment_frames(25.0, 1) == 250);  // 10 s on one rank
    c.segment_seconds = 3;
    CHECK(c.effective_segment_frames(25.0, 1) == 75);  // as set, whatever the ranks
    CHECK(c.effective_segment_frames(25.0, 3) == 75);
  }
  SECTION("values are read and relative model paths resolve against the config's folder") {
    Config c = config_from_json(json::parse(R"({"model": {"path": "m.pt", "batch_size": 2,
        "input": {"scale": 0.5, "channel_order": "bgr"}}, "encode": {"crf": 23}})"),
                                "c.json", "/base/configs");
    CHECK(c.model_path == "/base/configs/m.pt");
    CHECK(c.batch_size == 2);
    CHECK(c.input.scale == 0.5);
    CHECK(c.input.bgr);
    CHECK(c.crf == 23);
    CHECK(c.effective_segment_frames(25.0, 2) == 50);
  }
  SECTION("absolute paths stay as they are") {
    Config c = config_from_json(json::parse(R"({"model": {"path": "/m/x.pt"}})"), "c.json", "/b");
    CHECK(c.model_path == "/m/x.pt");
  }
  SECTION("round trip through config_to_json") {
    Config c = config_from_json(json::parse(R"({"model": {"path": "/m.pt", "device": "cpu"}})"),
                                "c.json", "");
    Config d = config_from_json(config_to_json(c), "again", "");
    CHECK(d.model_path == "/m.pt");
    CHECK(d.device == "cpu");
  }
  SECTION("the shipped config parses") {
    Config c = load_config(std::string(VIDSCORE_SOURCE_DIR) + "/configs/style_transfer.json");
    CHECK(c.task == "style");
    Config k = load_config(std::string(VIDSCORE_SOURCE_DIR) + "/configs/classification.json");
    CHECK(k.task == "classify");
    CHECK(k.image.resize == "center_crop");
    CHECK(k.image.shorter_side == 256);
    Config e = load_config(std::string(VIDSCORE_SOURCE_DIR) + "/configs/embedding.json");
    CHECK(e.task == "embed");
    CHECK(e.embed.dtype == "float32");
  }
}

TEST_CASE("config errors name the JSON path", "[unit][config]") {
  CHECK(error_of(json::parse(R"({"model": {"batch_size": "four"}})")) ==
        "config c.json: /model/batch_size: expected an integer, got a string");
  CHECK(error_of(json::parse(R"({"model": {"batch_size": -1}})")) ==
        "config c.json: /model/batch_size: -1 is out of range [0, 1024]");
  CHECK(error_of(json::parse(R"({"model": {"bach_size": 2}})")) ==
        "config c.json: /model/bach_size: unknown key (known here: path, device, precision, "
        "batch_size, threads, streams, input)");
  CHECK(error_of(json::parse(R"({"colour": 1})")) ==
        "config c.json: /colour: unknown key (known here: task, model, style, detect, classify, "
        "embed, encode, pipeline, progress)");
  CHECK(error_of(json::parse(R"({"model": {"device": "gpu"}})")) ==
        "config c.json: /model/device: \"gpu\" is not one of \"auto\", \"cpu\", \"cuda\"");
  CHECK(error_of(json::parse(R"({"encode": {"crf": 60}})")) ==
        "config c.json: /encode/crf: 60 is out of range [0, 51]");
  CHECK(error_of(json::parse(R"({"model": {"input": {"std": [1, 0, 1]}}})")) ==
        "config c.json: /model/input/std/1: must be greater than 0");
  CHECK(error_of(json::parse(R"({"model": {"input": {"mean": [1, 2]}}})")) ==
        "config c.json: /model/input/mean: expected an array of 3 numbers, got a array");
  CHECK(error_of(json::parse(R"({"model": []})")) ==
        "config c.json: /model: expected an object, got a array");
  CHECK(error_of(json::parse(R"([1])")) == "config c.json: /: expected an object, got a array");
  CHECK(error_of(json::parse(R"({"task": "segment"})")) ==
        "config c.json: /task: \"segment\" is not one of \"style\", \"detect\", \"classify\", \"embed\"");
  CHECK(error_of(json::parse(R"({"detect": {"layout": "ssd"}})")) ==
        "config c.json: /detect/layout: \"ssd\" is not one of \"torchvision\", \"yolov5\", "
        "\"yolov8\"");
  CHECK(error_of(json::parse(R"({"detect": {"input_size": [416]}})")) ==
        "config c.json: /detect/input_size: expected [width, height] in pixels, or [0, 0] for "
        "the frame size");
  CHECK(error_of(json::parse(R"({"detect": {"operator_libraries": ["a.so", 3]}})")) ==
        "config c.json: /detect/operator_libraries/1: expected a string, got an integer");
  CHECK(error_of(json::parse(R"({"detect": {"score_threshold": 1.5}})")) ==
        "config c.json: /detect/score_threshold: 1.5 is out of range [0, 1]");
}

TEST_CASE("config files", "[unit][config]") {
  test::TempDir dir;
  SECTION("missing file") {
    std::string p = dir.path("nope.json");
    CHECK_THROWS_WITH(load_config(p), "config " + p + ": cannot open: No such file or directory");
  }
  SECTION("invalid JSON gives the line and column") {
    std::string p = dir.path("bad.json");
    std::ofstream(p) << "{\n  \"task\": \"style\",\n}\n";
    CHECK_THROWS_WITH(load_config(p), Catch::StartsWith("config " + p +
                                                        ": not valid JSON: parse error at line 3"));
  }
  SECTION("no model") {
    CHECK_THROWS_WITH(validate_config(Config{}),
                      "no model: set \"model\": {\"path\": ...} in the config or pass --model FILE");
  }
}

TEST_CASE("command line", "[unit][cli]") {
  SECTION("--help shows the live defaults") {
    auto r = test::run_vidscore("--help");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("--batch-size N") &&
                             Catch::Contains("0 = auto: 1 on a CPU, 4 on a GPU      [0]") &&
                             Catch::Contains("[medium]"));
  }
  SECTION("--version") {
    auto r = test::run_vidscore("--version");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::StartsWith("vidscore "));
  }
  SECTION("overrides are validated like the file") {
    auto r = test::run_vidscore("--model m.pt --device gpu --print-config");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("vidscore: error: config (command line): /model/device: "
                                         "\"gpu\" is not one of \"auto\", \"cpu\", \"cuda\""));
    r = test::run_vidscore("--batch-size four");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output,
               Catch::Contains("vidscore: error: --batch-size: expected an integer, got \"four\""));
    r = test::run_vidscore("--frobnicate");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("vidscore: error: unknown option \"--frobnicate\""));
  }
  SECTION("overrides apply on top of the config file") {
    auto r = test::run_vidscore("--config " + std::string(VIDSCORE_SOURCE_DIR) +
                                "/configs/style_transfer.json --model m.pt --batch-size 2 "
                                "--crf 30 --preset veryfast --threads 1 --print-config");
    REQUIRE(r.exit_code == 0);
    json j = json::parse(r.output);
    CHECK(j["model"]["path"] == "m.pt");
    CHECK(j["model"]["batch_size"] == 2);
    CHECK(j["model"]["threads"] == 1);
    CHECK(j["encode"]["crf"] == 30);
    CHECK(j["encode"]["preset"] == "veryfast");
  }
}
