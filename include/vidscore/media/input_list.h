// The inputs of a job, from --input values: video files, folders (searched recursively; a file
// counts as video by what FFmpeg recognises in its first bytes, or by a video extension, so a
// damaged video is still reported rather than skipped), and @LIST files (one path per line;
// blank lines and lines starting with # are skipped). Each input also gets the relative path its
// output takes under the output folder: its path inside the folder it was found in, or its file
// name.
#pragma once

#include <string>
#include <vector>

namespace vidscore {

struct JobInput {
  std::string path;      // as given or found
  std::string relative;  // where its output goes under the output folder (input's extension);
                         // an image: its name in the results
  bool image = false;    // an image (only when images were asked for)
  bool in_folder = false;  // found in a folder given as input (else given or listed itself)
};

// Whether these --input values make an archive job (several inputs, a folder, or a list)
// rather than a single-video one.
bool is_archive_job(const std::vector<std::string>& values);

// Expands the values in order. Throws UsageError for a value that does not exist, an unreadable
// list, or two videos whose outputs would have the same path. `notes` gets the files of folders
// skipped as not video (one line). With `images`, images count too (JobInput::image; a file
// is an image by FFmpeg's probe of its content or by its extension).
std::vector<JobInput> expand_inputs(const std::vector<std::string>& values,
                                    std::vector<std::string>& notes, bool images = false);

}  // namespace vidscore
