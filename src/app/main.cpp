// vidscore: apply a TorchScript model to every frame of a video, across MPI ranks.
// Parses the command line, picks the rank's role, maps exceptions to exit codes:
// 0 success, 1 runtime failure, 2 usage or config error, 3 done on a damaged input, 4 archive
// job done with failed inputs.
#include <sys/prctl.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vidscore/config.h"
#include "vidscore/cluster/mpi_env.h"
#include "vidscore/cluster/job.h"
#include "vidscore/error.h"
#include "vidscore/ffmpeg_raii.h"
#include "vidscore/model/task.h"
#include "vidscore/partial_files.h"

extern "C" {
#include <libavutil/log.h>
}

namespace vidscore {
namespace {

struct CliOptions {
  std::string config_path;  // --config
  JobPaths paths;           // --input, --output
  bool help = false, version = false, print_config = false;
  int log_level = AV_LOG_QUIET;  // --log-level: FFmpeg's own log lines to show
};

void print_usage(const Config& d) {
  std::printf(
      "usage: vidscore [--config FILE] --input IN --output OUT [options]\n"
      "       vidscore ... --input DIR|@LIST|IN --input ... --output OUTDIR   (archive job)\n"
      "       vidscore --task classify|embed --input PHOTOS/ --output RESULTS.jsonl|.npy\n"
      "                                   (image job: folders or lists of images)\n"
      "       mpirun -np N vidscore ...   (one rank per GPU; every rank decodes, runs the model\n"
      "                                    and encodes segments; rank 0 demuxes and muxes)\n"
      "\n"
      "Applies a TorchScript model to every frame of IN and writes OUT (.mp4, .mov or .mkv)\n"
      "with the same frames, timestamps and audio; or its results: detections, classes\n"
      "(.json per video, .jsonl for images) or embeddings (.npy + .index.jsonl).\n"
      "\n"
      "options (override the config file; defaults shown):\n"
      "  --config FILE        JSON config (see configs/); without it, the defaults below\n"
      "  --input FILE         video to read (anything FFmpeg reads); repeat it, or give a\n"
      "                       folder (searched recursively) or @LIST (a path per line)\n"
      "                       for an archive job: one scheduler for all the videos\n"
      "  --output FILE        video to write; never the input (archive job: a folder, where\n"
      "                       each output takes its input's relative path)\n"
      "  --output-ext EXT     archive job: .mp4 | .mov | .mkv (pipeline.output_extension) [%s]\n"
      "  --overwrite          archive job: redo inputs whose outputs exist (else skipped)\n"
      "  --model FILE         TorchScript model (model.path)            [%s]\n"
      "  --device D           auto | cpu | cuda (model.device)          [%s]\n"
      "  --precision P        fp32 | fp16 (model.precision)             [%s]\n"
      "  --batch-size N       frames per forward call (model.batch_size),\n"
      "                       0 = auto: 1 on a CPU, 4 on a GPU      [%d]\n"
      "  --threads N          intra-op threads per rank, 0 = cores/ranks [%d]\n"
      "  --streams N          batches run at once per rank, sharing its threads\n"
      "                       (model.streams), 0 = auto: 2 on a CPU, 1 on a GPU [%d]\n"
      "  --crf N              x264 quality, 0-51 (encode.crf)           [%d]\n"
      "  --preset P           x264 preset (encode.preset)               [%s]\n"
      "  --transport T        auto | packets | frames (pipeline.transport) [%s]\n"
      "  --segment-frames N   frames per segment, 0 = pipeline.segment_seconds of video\n"
      "                       (0: 2 s, 10 s on one rank)                  [%d]\n"
      "  --progress M         auto | bar | lines | off                  [%s]\n"
      "  --work-dir DIR       where finished segments are kept for resuming\n"
      "                       (pipeline.work_dir)         [beside OUTPUT: OUTPUT.vidscore-work]\n"
      "  --no-resume          keep nothing; a rerun starts afresh (pipeline.resume=false)\n"
      "  --task T             style | detect | classify | embed (task)  [%s]\n"
      "  --class-names FILE   detect, classify: one class name per line\n"
      "  --top-k N            classify: classes kept per frame or image (classify.top_k) [5]\n"
      "  --detections FILE    detect: JSON of detections  [OUTPUT with .json]\n"
      "  --no-video           detect: write only the JSON (detect.write_video=false)\n"
      "  --log-level L        FFmpeg's log: quiet | error | warning | info | debug [quiet]\n"
      "                       (its errors are always folded into vidscore's messages)\n"
      "  --verbose            same as --log-level info\n"
      "  --print-config       print the effective config as JSON and exit\n"
      "  --help, --version\n"
      "\n"
      "resume: finished segments are kept in the work folder while the job runs; the same\n"
      "command run again after a failure redoes only the rest (a changed input, model or\n"
      "setting starts afresh, with a note); the folder goes when the output is complete.\n"
      "\n"
      "exit codes: 0 done, 1 runtime failure, 2 usage or config error,\n"
      "            3 done on a damaged or cut input (what decoded was written; see the note),\n"
      "            4 archive job done, but some inputs failed (each named with its reason)\n",
      d.output_extension.c_str(), d.model_path.empty() ? "none" : d.model_path.c_str(), d.device.c_str(),
      d.precision.c_str(), d.batch_size, d.threads, d.streams, d.crf, d.preset.c_str(), d.transport.c_str(), d.segment_frames,
      d.progress.c_str(), d.task.c_str());
}

int parse_int(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    int x = std::stoi(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw UsageError(flag + ": expected an integer, got \"" + v + "\"");
}

int parse_log_level(const std::string& v) {
  if (v == "quiet") return AV_LOG_QUIET;
  if (v == "error") return AV_LOG_ERROR;
  if (v == "warning") return AV_LOG_WARNING;
  if (v == "info") return AV_LOG_INFO;
  if (v == "debug") return AV_LOG_DEBUG;
  throw UsageError("--log-level: expected quiet, error, warning, info or debug, got \"" + v + "\"");
}

// Parses argv: first the config file, then the overrides on top, each checked by the same
// validator as the file (so "--device gpu" fails like "device": "gpu" would).
Config parse_args(int argc, char** argv, CliOptions& cli) {
  std::vector<std::pair<std::string, std::string>> overrides;
  const std::vector<std::string> with_value = {
      "--config", "--input",   "--output",       "--model",        "--device",  "--precision",
      "--batch-size", "--threads", "--streams", "--crf", "--preset", "--transport", "--segment-frames",
      "--progress", "--work-dir", "--output-ext",
      "--task", "--detections", "--log-level", "--class-names", "--top-k"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    if (a == "--help" || a == "-h") {
      cli.help = true;
      continue;
    }
    if (a == "--version") {
      cli.version = true;
      continue;
    }
    if (a == "--print-config") {
      cli.print_config = true;
      continue;
    }
    if (a == "--verbose") {
      cli.log_level = AV_LOG_INFO;
      continue;
    }
    if (a == "--overwrite") {
      cli.paths.overwrite = true;
      continue;
    }
    if (a == "--no-video" || a == "--no-resume") {
      overrides.emplace_back(a, "");
      continue;
    }
    if (std::find(with_value.begin(), with_value.end(), a) == with_value.end())
      throw UsageError("unknown option \"" + a + "\"");
    if (!has_inline) {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      value = argv[++i];
    }
    if (a == "--config") cli.config_path = value;
    else if (a == "--input") cli.paths.inputs.push_back(value);
    else if (a == "--output") cli.paths.output = value;
    else if (a == "--log-level") cli.log_level = parse_log_level(value);
    else overrides.emplace_back(a, value);
  }
  if (cli.help || cli.version) return Config{};

  nlohmann::json j = nlohmann::json::object();
  Config c = cli.config_path.empty() ? Config{} : load_config(cli.config_path);
  j = config_to_json(c);
  for (const auto& [flag, v] : overrides) {
    if (flag == "--model") j["model"]["path"] = v;
    else if (flag == "--device") j["model"]["device"] = v;
    else if (flag == "--precision") j["model"]["precision"] = v;
    else if (flag == "--batch-size") j["model"]["batch_size"] = parse_int(flag, v);
    else if (flag == "--threads") j["model"]["threads"] = parse_int(flag, v);
    else if (flag == "--streams") j["model"]["streams"] = parse_int(flag, v);
    else if (flag == "--crf") j["encode"]["crf"] = parse_int(flag, v);
    else if (flag == "--preset") j["encode"]["preset"] = v;
    else if (flag == "--transport") j["pipeline"]["transport"] = v;
    else if (flag == "--segment-frames") j["pipeline"]["segment_frames"] = parse_int(flag, v);
    else if (flag == "--progress") j["progress"]["mode"] = v;
    else if (flag == "--task") j["task"] = v;
    else if (flag == "--detections") j["detect"]["json"] = v;
    else if (flag == "--no-video") j["detect"]["write_video"] = false;
    else if (flag == "--no-resume") j["pipeline"]["resume"] = false;
    else if (flag == "--work-dir") j["pipeline"]["work_dir"] = v;
    else if (flag == "--output-ext") j["pipeline"]["output_extension"] = v;
    else if (flag == "--top-k") j["classify"]["top_k"] = parse_int(flag, v);
  }
  // After --task, wherever it came: the class names of the task that runs.
  for (const auto& [flag, v] : overrides)
    if (flag == "--class-names")
      j[j["task"] == "detect" ? "detect" : "classify"]["class_names"] = v;
  // Command-line paths are relative to the working directory: no base folder here.
  return config_from_json(j, "(command line)", "");
}

// x264 asks for transparent huge pages (madvise) for its frame buffers, about 400 MB at 1080p.
// Their faults cost 0.2-0.9 s of kernel time per 1080p run on the development VM, with x264's
// own time within 2% either way (README, Results). VIDSCORE_HUGE_PAGES=1 keeps them.
void decline_huge_pages() {
  const char* keep = std::getenv("VIDSCORE_HUGE_PAGES");
  if (keep && std::strcmp(keep, "1") == 0) return;
  prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);  // best effort: an old kernel just keeps them
}

}  // namespace
}  // namespace vidscore

int main(int argc, char** argv) {
  using namespace vidscore;
  keep_freed_memory_for_reuse();  // before MPI, FFmpeg or torch start threads
  decline_huge_pages();
  std::unique_ptr<MpiEnv> env;
  try {
    env = std::make_unique<MpiEnv>(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vidscore: error: %s\n", e.what());
    return 1;
  }
  const bool rank0 = env->rank() == 0;
  install_termination_handler();
  install_ffmpeg_log(AV_LOG_QUIET);

  CliOptions cli;
  Config config;
  try {
    config = parse_args(argc, argv, cli);
    if (cli.help) {
      if (rank0) print_usage(Config{});
      return 0;
    }
    if (cli.version) {
      if (rank0) std::printf("vidscore %s\n", VIDSCORE_VERSION);
      return 0;
    }
    if (cli.print_config) {
      if (rank0) std::printf("%s\n", config_to_json(config).dump(2).c_str());
      return 0;
    }
    validate_config(config);
    install_ffmpeg_log(cli.log_level);
  } catch (const UsageError& e) {
    if (rank0) std::fprintf(stderr, "vidscore: error: %s\n", e.what());
    return 2;
  }

  int code = 1;
  try {
    code = run_job(config, cli.paths, *env);
    // The job is over: its outputs are closed and in place, its objects gone. End MPI, then
    // leave without the static destructors of the ~300 libraries Debian's libtorch loads (its
    // operator registry alone unregisters every operator at exit).
    env.reset();
    std::fflush(nullptr);
    std::_Exit(code);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "vidscore: error: %s\n", e.what());
    code = 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vidscore: error: %s\n", e.what());
  }
  std::fflush(stderr);
  // Other ranks may be blocked in MPI calls waiting for this one: end them all.
  if (env->size() > 1) env->abort(code);
  return code;
}
