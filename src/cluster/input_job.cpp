#include "vidscore/cluster/input_job.h"

#include <filesystem>
#include <optional>

#include "vidscore/bytes.h"
#include "vidscore/error.h"
#include "vidscore/media/input_list.h"
#include "vidscore/media/segment_encoder.h"
#include "vidscore/media/stream_params.h"
#include "vidscore/partial_files.h"
#include "vidscore/render/npy_writer.h"

namespace vidscore {

namespace fs = std::filesystem;

void check_output_path(const std::string& input, const std::string& output) {
  std::error_code ec;
  if (fs::weakly_canonical(input, ec) == fs::weakly_canonical(output, ec) ||
      (fs::exists(output, ec) && fs::equivalent(input, output, ec)))
    throw UsageError("output " + output + " is the input file; vidscore never overwrites "
                     "its input, choose another output name");
  fs::path dir = fs::path(output).parent_path();
  if (!dir.empty() && !fs::is_directory(dir, ec))
    throw UsageError("output " + output + ": folder " + dir.string() + " does not exist");
  if (fs::is_directory(output, ec))
    throw UsageError("output " + output + " is an existing folder; give a file name");
}

std::string results_path(const Config& config, const std::string& output) {
  if (config.task == "style") return "";
  if (config.task != "detect") return output;
  if (!config.detect.json_path.empty()) return config.detect.json_path;
  fs::path p(output);
  if (p.extension() == ".json") return output;
  return p.replace_extension(".json").string();
}

bool writes_video(const Config& config) {
  return config.task == "style" || (config.task == "detect" && config.detect.write_video);
}

const char* results_extension(const Config& config) {
  return config.task == "embed" ? ".npy" : config.task == "style" ? "" : ".json";
}

std::vector<std::string> result_files(const Config& config, const std::string& output) {
  std::vector<std::string> files;
  if (writes_video(config)) files.push_back(output);
  const std::string results = results_path(config, output);
  if (!results.empty()) files.push_back(results);
  if (config.task == "embed") files.push_back(npy_index_path(results));
  return files;
}

namespace {

// Checks one input's paths before any work and removes partial outputs that killed runs left
// behind (returned as notes).
std::vector<std::string> check_paths(const Config& config, const std::string& input,
                                     const std::string& output) {
  std::error_code ec;
  if (input.empty()) throw UsageError("no input: pass --input FILE");
  if (output.empty()) throw UsageError("no output: pass --output FILE");
  if (!fs::exists(input, ec))
    throw RuntimeError("cannot open input " + input + ": No such file or directory");
  // The video and the carried streams are read by two demuxers, so the input is opened twice:
  // a pipe would hang on the second open.
  if (fs::is_fifo(input, ec) || fs::is_character_file(input, ec) || fs::is_socket(input, ec))
    throw UsageError("input " + input + " is a pipe or device; vidscore reads its input "
                     "twice (video, then audio), so save the stream to a file first");
  if (fs::is_directory(input, ec))
    throw UsageError("input " + input + " is a folder; give a video file");
  const bool video = writes_video(config);
  if (video) output_format_for(output);
  if (video && fs::path(output).extension() == ".json")
    throw UsageError("output " + output + " is a .json name but a video is written; set "
                     "detect.write_video to false (--no-video) for detections only");
  if (!video && config.task != "detect" &&
      fs::path(output).extension() != results_extension(config))
    throw UsageError("output " + output + ": " + config.task + " writes " +
                     (config.task == "embed" ? "a NumPy file" : "JSON") + "; give a name ending in " +
                     results_extension(config));
  std::vector<std::string> notes;
  for (const auto& out : result_files(config, output)) {
    check_output_path(input, out);
    for (const auto& left : remove_stale_partial_files(out))
      notes.push_back("removed " + left + ", left by an earlier run that was killed");
  }
  return notes;
}

std::unique_ptr<ResultsWriter> open_results(const Config& config, const std::string& input,
                                            const std::string& output, const VideoInfo& info) {
  if (config.task == "embed")
    return std::make_unique<NpyWriter>(results_path(config, output), config.embed.dtype, input);
  JsonResultsHeader h;
  h.input_path = input;
  h.width = info.size.width;
  h.height = info.size.height;
  h.frame_rate = std::to_string(info.frame_rate.num) + "/" + std::to_string(info.frame_rate.den);
  h.time_base = std::to_string(info.time_base.num) + "/" + std::to_string(info.time_base.den);
  h.duration_s = info.duration_s;
  h.model_path = config.model_path;
  const bool detect = config.task == "detect";
  h.layout = detect ? config.detect.layout : "";
  h.key = detect ? "detections" : "classes";
  const std::string& names = detect ? config.detect.class_names : config.classify.class_names;
  if (!names.empty()) h.class_names = load_class_names(names);
  return std::make_unique<JsonResultsWriter>(results_path(config, output), h);
}

}  // namespace

const char* transport_name(Transport t) { return t == Transport::kPackets ? "packets" : "frames"; }

// Opens the input: paths, work folder (resume), source (transport, segment plan), encoder
// settings, outputs. Throws UsageError or RuntimeError.
void open_input(const Config& config, int ranks, InputJob& job) {
  job.open_notes = check_paths(config, job.input, job.output);
  const std::string video_out = writes_video(config) ? job.output : "";
  // Without a readable model there is nothing to resume: loading it fails with its own message.
  std::error_code ec;
  if (config.resume && fs::is_regular_file(config.model_path, ec)) {
    const std::string folder = work_folder_for(
        writes_video(config) ? job.output : results_path(config, job.output), config.work_dir);
    try {
      job.work = std::make_unique<WorkFolder>(folder, result_identity(config, job.input),
                                              job.open_notes);
      job.kept_before = job.work->kept_on_disk();
    } catch (const std::exception& e) {
      // Resuming is a convenience: the job goes on without it.
      job.open_notes.push_back(std::string(e.what()) + "; this job keeps no segments, a rerun "
                               "after a failure would start afresh");
    }
  }
  // A resumed job cuts the segments the kept ones came from, whatever the number of ranks.
  const std::optional<SegmentPlan> plan = job.work ? job.work->previous_plan() : std::nullopt;
  if (plan)
    job.source = std::make_unique<SegmentSource>(
        job.input, transport_name(plan->transport), [&](double) { return plan->segment_frames; },
        false, ranks);
  else
    job.source = std::make_unique<SegmentSource>(
        job.input, config.transport,
        [&](double fps) { return config.effective_segment_frames(fps, ranks); },
        config.segment_frames == 0, ranks);
  job.segment_frames = job.source->segment_frames();
  job.choice = job.source->choice();
  job.info = job.source->info();
  if (job.work) job.work->begin({job.choice.transport, job.segment_frames});
  if (writes_video(config)) {
    WriterOptions wo{config.codec, config.crf, config.preset, config.pix_fmt,
                     config.audio_fallback_codec, config.audio_fallback_bitrate};
    SegmentEncoder probe(job.info, wo);  // checks the settings; rank 0 encodes no frame
    for (const auto& n : probe.notes()) job.open_notes.push_back(n);
    job.muxer = std::make_unique<VideoMuxer>(job.output, job.info, probe.params(), wo);
    for (const auto& n : job.muxer->notes()) job.open_notes.push_back(n);
    job.muxer_notes_said = job.muxer->notes().size();
  }
  if (config.task != "style") job.results = open_results(config, job.input, job.output, job.info);
  ByteWriter w;
  pack_video_info(w, job.info);
  pack_codec_parameters(w, job.source->codec_parameters());
  job.setup = std::make_shared<const std::vector<uint8_t>>(std::move(w.bytes()));
  job.state = InputJob::State::kOpen;
}

// Writes the end of a finished input (trailer, rename), or throws what makes it a failure.
void finish_input(InputJob& job, InputTotals& totals) {
  if (totals.frames == 0)
    throw RuntimeError(job.input + ": video stream " + std::to_string(job.info.stream_index) +
                       " has no decodable frames; nothing written");
  if (job.muxer) job.muxer->finish();
  if (job.results) job.results->finish();
  if (job.work) job.work->remove();  // the output is complete
  job.written = job.muxer ? job.output : "";
  if (job.results)
    job.written += (job.written.empty() ? "" : " + ") + job.results->written();
  std::vector<std::string>& notes = job.end_notes;
  if (job.muxer) {  // found while copying (timestamp resets in the audio)
    auto later = job.muxer->notes();
    for (size_t i = job.muxer_notes_said; i < later.size(); ++i) notes.push_back(later[i]);
  }
  notes.insert(notes.end(), job.source_notes.begin(), job.source_notes.end());
  notes.insert(notes.end(), totals.notes.begin(), totals.notes.end());
  if (job.work)
    for (auto& n : job.work->take_notes()) notes.push_back(std::move(n));
  bool damaged = job.damaged;
  if (!job.checked_by_source)
    damaged |= end_of_input_notes(job.info, totals.frames, totals.invalid_packets,
                                  totals.repeated_pts, notes);
  job.exit_code = damaged ? kExitDamagedInput : 0;
  job.state = InputJob::State::kDone;
}

// The inputs of the job with their outputs. Single-video jobs: the one input and --output.
// Archive jobs: every input found, each written under the output folder at its relative path.
std::vector<std::unique_ptr<InputJob>> plan_inputs(const Config& config, const JobPaths& paths,
                                                   bool archive,
                                                   const std::vector<JobInput>& inputs) {
  std::vector<std::unique_ptr<InputJob>> jobs;
  if (!archive) {
    auto j = std::make_unique<InputJob>();
    j->input = paths.inputs.empty() ? "" : paths.inputs[0];
    j->output = paths.output;
    jobs.push_back(std::move(j));
    return jobs;
  }
  if (paths.output.empty()) throw UsageError("no output: pass --output FOLDER");
  std::error_code ec;
  if (fs::exists(paths.output, ec) && !fs::is_directory(paths.output, ec))
    throw UsageError("output " + paths.output + " is a file; with several inputs, a folder, or "
                     "a list, --output is the folder the outputs go to");
  if (!config.detect.json_path.empty())
    throw UsageError("detect.json names one file; with several inputs each gets its own JSON "
                     "beside its video (leave detect.json empty)");
  const fs::path out_dir = fs::weakly_canonical(paths.output, ec);
  for (const auto& v : paths.inputs) {
    if (v.rfind("@", 0) == 0 || !fs::is_directory(v, ec)) continue;
    const fs::path in_dir = fs::weakly_canonical(v, ec);
    auto rel = out_dir.lexically_relative(in_dir);
    if (!rel.empty() && *rel.begin() != "..")
      throw UsageError("output folder " + paths.output + " is inside input folder " + v +
                       "; its outputs would be taken as inputs next time");
  }
  if (inputs.empty()) throw UsageError("no input videos found in " + paths.inputs[0]);
  fs::create_directories(paths.output, ec);
  if (ec) throw RuntimeError("cannot create output folder " + paths.output + ": " + ec.message());
  const std::string ext = writes_video(config) ? config.output_extension : results_extension(config);
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto j = std::make_unique<InputJob>();
    j->id = static_cast<int>(i);
    j->input = inputs[i].path;
    j->output = (fs::path(paths.output) / fs::path(inputs[i].relative).replace_extension(ext))
                    .string();
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// Whether every output of an archive input exists already (a finished input: skipped).
bool outputs_exist(const Config& config, const InputJob& job) {
  std::error_code ec;
  for (const auto& f : result_files(config, job.output))
    if (!fs::exists(f, ec)) return false;
  return true;
}

}  // namespace vidscore
