// A job over an image folder (classify, embed): rank 0 reads the files in runs of
// pipeline.segment_images and hands each run to the next rank with free capacity, through the same
// scheduler as video segments (the compressed bytes travel; ranks decode, pre-process and score);
// the assembler writes the results in the images' order to one file: JSON Lines (classify) or a
// .npy with its index (embed). An image that cannot be read or decoded is listed with its reason
// in the results and the summary; the job goes on and exits kExitFailedInputs (1 when no image
// could be scored).
#pragma once

#include <string>
#include <vector>

#include "vidscore/cluster/job.h"
#include "vidscore/cluster/mpi_env.h"
#include "vidscore/config.h"
#include "vidscore/media/input_list.h"

namespace vidscore {

// Whether these inputs make an image job: the task scores pictures and images are among them;
// when videos are too, an --output named .jsonl or .npy (one results file) says images, anything
// else (a folder) says videos, and the other kind is skipped with a note.
bool is_image_job(const Config& config, const std::vector<JobInput>& inputs,
                  const std::string& output);

// Rank 0's part (the other ranks run the usual worker loop, see job.cpp). `inputs`: as expanded
// with images; videos among them are skipped with a note. `notes`: from the expansion.
int run_image_job_rank0(const Config& config, const JobPaths& paths, const MpiEnv& env,
                        const std::vector<JobInput>& inputs, std::vector<std::string> notes);

}  // namespace vidscore
