// The job across MPI ranks (mpirun --oversubscribe): every frame exactly once and in order,
// timestamps and audio kept, the same output whatever the rank count, failures end the job.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include <catch2/catch.hpp>

#include "support.h"
#include "vidscore/cluster/mpi_env.h"

using namespace vidscore::test;

namespace {

// `frames` frames whose colours shift every frame (so neighbours differ), NTSC rate, AAC audio.
// 4:4:4 and made from RGB, so an identity round trip through RGB loses next to nothing.
std::string make_clip(const TempDir& dir, int frames, const std::string& extra_filter = "") {
  std::string clip = dir.path("clip" + std::to_string(frames) + ".mp4");
  std::string seconds = std::to_string((frames - 0.5) * 1001.0 / 30000.0);
  ffmpeg("-f lavfi -i testsrc2=size=96x64:rate=30000/1001:duration=" + seconds +
         " -f lavfi -i sine=frequency=500:sample_rate=48000:duration=" + seconds +
         " -vf \"hue=h=n*47" + extra_filter + ",format=rgb24\" -pix_fmt yuv444p -c:v libx264 "
         "-crf 8 -c:a aac " + quote(clip));
  return clip;
}

void check_frames_and_audio(const std::string& in, const std::string& out, size_t frames) {
  VideoProbe a = probe_video(in), b = probe_video(out);
  REQUIRE(a.frame_times.size() == frames);
  REQUIRE(b.frame_times.size() == frames);
  for (size_t i = 0; i < frames; ++i) CHECK(b.frame_times[i] == Approx(a.frame_times[i]).margin(1e-3));
  CHECK(audio_packets_md5(out) == audio_packets_md5(in));
}

}  // namespace

TEST_CASE("1 to 4 ranks keep every frame, its timestamp and the audio", "[mpi]") {
  TempDir dir;
  std::string model = dir.path("invert.ts.pt");
  save_filter("invert", model);
  // 29 frames: no multiple of 2, 3 or 4 ranks, nor of the 4-frame segment; 2 frames: fewer
  // than the ranks.
  for (int frames : {29, 2}) {
    std::string clip = make_clip(dir, frames);
    for (int ranks : {1, 2, 3, 4}) {
      INFO(frames << " frames, " << ranks << " ranks");
      std::string out = dir.path("out_" + std::to_string(frames) + "_" + std::to_string(ranks) + ".mp4");
      auto r = run_vidscore_mpi(ranks, "--model " + quote(model) + " --input " + quote(clip) +
                                           " --output " + quote(out) +
                                           " --batch-size 2 --segment-frames 4 --threads 1");
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
      CHECK_THAT(r.output, Catch::Contains("done: " + std::to_string(frames) + " frames in "));
      CHECK_THAT(r.output, Catch::Contains(std::to_string(ranks) + " rank"));
      check_frames_and_audio(clip, out, frames);
    }
  }
}

TEST_CASE("a plain process runs as one rank without MPI, a launched one with MPI", "[mpi]") {
  TempDir dir;
  std::string model = dir.path("invert.ts.pt");
  save_filter("invert", model);
  std::string clip = make_clip(dir, 9);
  // An MPI setting that makes MPI_Init fail: a plain run never calls it (no singleton daemon,
  // no start-up cost), the same command under mpirun does.
  const std::string broken = "OMPI_MCA_pml=no_such_component ";
  const std::string args = "--model " + quote(model) + " --input " + quote(clip) +
                           " --progress off --threads 1 --output ";
  std::string out = dir.path("plain.mp4");
  // No launcher variables, whatever ran the tests.
  const std::string no_launcher =
      "env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMIX_NAMESPACE -u PMI_RANK -u PMI_SIZE "
      "-u PMI_FD -u PMI_PORT -u PMI_ID -u MPI_LOCALNRANKS -u SLURM_STEP_NUM_TASKS -u VIDSCORE_MPI ";
  auto plain = run(no_launcher + broken + quote(VIDSCORE_BIN) + " " + args + quote(out));
  INFO(plain.output);
  REQUIRE(plain.exit_code == 0);
  CHECK_THAT(plain.output, Catch::Contains("1 rank"));
  check_frames_and_audio(clip, out, 9);
  std::string launched_out = dir.path("launched.mp4");
  auto launched = run(broken + "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                      "mpirun -np 1 " + quote(VIDSCORE_BIN) + " " + args + quote(launched_out));
  INFO(launched.output);
  CHECK(launched.exit_code != 0);
  // Failed in MPI_Init: Open MPI's text names the pml, unless the rank exits before mpirun's
  // daemon has relayed that help text (about 1 run in 6 here), when only the rank's own
  // "An error occurred in MPI_Init_thread" remains.
  CHECK_THAT(launched.output, Catch::Contains("MPI_Init", Catch::CaseSensitive::No));
  CHECK_FALSE(file_exists(launched_out));
  // VIDSCORE_MPI=1 asks for MPI without a launcher: the singleton's MPI_Init fails the same way
  // (and its daemon may lose the help text naming the pml the same way: "ORTE_ERROR_LOG: Data
  // unpack would read past end of buffer in show_help.c", seen once under ctest -j2).
  auto forced = run(no_launcher + broken + "VIDSCORE_MPI=1 " + quote(VIDSCORE_BIN) + " " + args +
                    quote(dir.path("forced.mp4")));
  INFO(forced.output);
  CHECK(forced.exit_code != 0);
  CHECK_THAT(forced.output, Catch::Contains("MPI_Init", Catch::CaseSensitive::No));
  CHECK_FALSE(file_exists(dir.path("forced.mp4")));
}

TEST_CASE("Open MPI's cm layer is left out unless the job or the site picks a pml or an MTL",
          "[mpi]") {
  // pml_base_verbose lists the components Open MPI opens: cm (which probes libfabric and PSM)
  // only when the job's own settings or a parameter file choose.
  TempDir dir;
  auto write_file = [](const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  };
  const std::string mpirun = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                             "OMPI_MCA_pml_base_verbose=10 mpirun -np 2 ";
  const std::string version = quote(VIDSCORE_BIN) + " --version 2>&1";
  const std::string clean = "env -u OMPI_MCA_pml -u OMPI_MCA_mtl -u OMPI_MCA_mca_base_param_files "
                            "HOME=" + quote(dir.path("home")) + " ";
  auto ours = run(clean + mpirun + version);
  INFO(ours.output);
  REQUIRE(ours.exit_code == 0);
  CHECK_THAT(ours.output, Catch::Contains("selected ob1") || Catch::Contains("selected ucx"));
  CHECK_THAT(ours.output, !Catch::Contains("component cm"));
  // Exclusions of the installation's file stay (Debian's excludes ucx).
  auto debian = run("grep -Eq '^ *pml *= *\\^ucx *$' /etc/openmpi/openmpi-mca-params.conf");
  if (debian.exit_code == 0) CHECK_THAT(ours.output, !Catch::Contains("component ucx"));

  SECTION("the job's MTL") {
    auto theirs = run(clean + "OMPI_MCA_mtl=^psm " + mpirun + version);
    INFO(theirs.output);
    REQUIRE(theirs.exit_code == 0);
    CHECK_THAT(theirs.output, Catch::Contains("component cm"));
  }
  SECTION("mpirun --mca pml, which reaches the ranks as OMPI_MCA_pml") {
    auto pml = run(clean + mpirun + "--mca pml ^ob1 " + version);
    INFO(pml.output);
    CHECK_THAT(pml.output, Catch::Contains("component cm"));
    CHECK_THAT(pml.output, !Catch::Contains("selected ob1"));
  }
  SECTION("the user's parameter file names its pml list") {
    run("mkdir -p " + quote(dir.path("home/.openmpi")));
    write_file(dir.path("home/.openmpi/mca-params.conf"), "# site choice\npml = ob1,cm\n");
    auto file = run(clean + mpirun + version);
    INFO(file.output);
    REQUIRE(file.exit_code == 0);
    CHECK_THAT(file.output, Catch::Contains("component cm"));
  }
  SECTION("the job's own parameter files") {
    write_file(dir.path("job.conf"), "pml = ob1,cm\n");
    auto files = run(clean + "OMPI_MCA_mca_base_param_files=" + quote(dir.path("job.conf")) +
                     " " + mpirun + version);
    INFO(files.output);
    REQUIRE(files.exit_code == 0);
    CHECK_THAT(files.output, Catch::Contains("component cm"));
  }
}

TEST_CASE("the connection to the PMIx server sends without delay", "[unit][mpi]") {
  // A server on loopback and a client connected to it, as PMIx's client is to mpirun's server.
  int server = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(server >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(listen(server, 1) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  int accepted = accept(server, nullptr, nullptr);
  REQUIRE(accepted >= 0);
  auto nodelay = [](int fd) {
    int v = 0;
    socklen_t l = sizeof(v);
    REQUIRE(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &l) == 0);
    return v != 0;
  };
  REQUIRE_FALSE(nodelay(client));
  const std::string other =
      "1234.0;tcp4://127.0.0.1:" + std::to_string(port == 65535 ? 1 : port + 1);
  CHECK(vidscore::pmix_connection_without_delay(other.c_str()) == 0);
  CHECK(vidscore::pmix_connection_without_delay("1234.0;usock:/tmp/x") == 0);
  CHECK(vidscore::pmix_connection_without_delay(nullptr) == 0);
  CHECK_FALSE(nodelay(client));
  const std::string uri = "1234.0;tcp4://127.0.0.1:" + std::to_string(port);
  CHECK(vidscore::pmix_connection_without_delay(uri.c_str()) == 1);  // the client side only
  CHECK(nodelay(client));
  CHECK_FALSE(nodelay(accepted));
  close(accepted);
  close(client);
  close(server);
}

TEST_CASE("frames come back in order from 3 ranks", "[mpi]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  std::string clip = make_clip(dir, 37);
  std::string out = dir.path("out.mp4");
  auto r = run_vidscore_mpi(3, "--model " + quote(model) + " --input " + quote(clip) +
                                   " --output " + quote(out) +
                                   " --batch-size 1 --segment-frames 2 --threads 1 --crf 4");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // 19 segments of 2 frames, handed to whichever rank is free: every rank gets some.
  CHECK_THAT(r.output, Catch::Contains("done: 37 frames in 19 segments"));
  for (int rank = 0; rank < 3; ++rank)
    CHECK_THAT(r.output, !Catch::Contains(" " + std::to_string(rank) + ": 0 (0 segments)"));
  auto in = decode_rgb(clip, 96, 64), got = decode_rgb(out, 96, 64);
  REQUIRE(in.size() == 37);
  REQUIRE(got.size() == 37);
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("frame " << i);
    double own = psnr(got[i], in[i]);
    CHECK(own >= 35.0);
    if (i > 0) CHECK(psnr(got[i], in[i - 1]) < own - 10.0);
    if (i + 1 < in.size()) CHECK(psnr(got[i], in[i + 1]) < own - 10.0);
  }
}

TEST_CASE("the same model gives the same output on 1 and 3 ranks", "[mpi]") {
  TempDir dir;
  std::string model = dir.path("ink.ts.pt");
  save_filter("ink_sketch", model);
  std::string clip = make_clip(dir, 23);
  std::string out1 = dir.path("np1.mp4"), out3 = dir.path("np3.mp4");
  // Lossless encoding (crf 0), so the decoded frames are the model's output exactly: x264's
  // lossy decisions can vary from run to run when its threads are scheduled differently.
  std::string args = "--model " + quote(model) + " --input " + quote(clip) +
                     " --batch-size 2 --segment-frames 3 --threads 1 --crf 0 --output ";
  auto r1 = run_vidscore_mpi(1, args + quote(out1));
  auto r3 = run_vidscore_mpi(3, args + quote(out3));
  INFO(r1.output << r3.output);
  REQUIRE(r1.exit_code == 0);
  REQUIRE(r3.exit_code == 0);
  auto a = decode_rgb(out1, 96, 64), b = decode_rgb(out3, 96, 64);
  REQUIRE(a.size() == 23);
  REQUIRE(b.size() == 23);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("frame " << i);
    CHECK(a[i] == b[i]);
  }
}

TEST_CASE("a model failing on a frame of rank 1 stops the whole job", "[mpi]") {
  TempDir dir;
  // Frame 5 is painted white; with 4-frame segments it is in segment 1. Both ranks start with
  // two free places, taken in turn: segment 0 goes to rank 0, segment 1 to rank 1, as rank 0
  // has the fewer free places then (slowed to 200 ms a frame, it cannot have finished segment 0).
  std::string clip =
      make_clip(dir, 29, ",drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='eq(n,5)'");
  std::string model = dir.path("fails_on_white.ts.pt");
  save_scripted("def forward(self, x):\n"
                "    assert bool(x.mean(dim=[1, 2, 3]).max() < 240.0), 'marked frame seen'\n"
                "    return x\n",
                model);
  std::string out = dir.path("out.mp4");
  auto r = run("VIDSCORE_TEST_SLOW_RANK=0:200 OMPI_ALLOW_RUN_AS_ROOT=1 "
               "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -x VIDSCORE_TEST_SLOW_RANK "
               "--bind-to none -np 2 " + quote(VIDSCORE_BIN) + " --progress off --model " +
               quote(model) + " --input " + quote(clip) + " --output " + quote(out) +
               " --batch-size 2 --segment-frames 4 --threads 1");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(r.seconds < 30.0);
  CHECK_THAT(r.output, Catch::Contains("vidscore: error: rank 1: model " + model) &&
                           Catch::Contains("marked frame seen"));
  CHECK_FALSE(file_exists(out));
  CHECK(files_with_prefix(dir.path(""), "out.mp4.partial").empty());  // finished segments may
                                                                      // be kept for resuming
}

TEST_CASE("style_candy on flower.mp4 with 2 ranks", "[mpi][real][slow]") {
  std::string shared = shared_dir();
  if (shared.empty()) {
    std::cout << "VIDSCORE_SKIPPED: ../shared (models, media) not found" << std::endl;
    return;
  }
  TempDir dir;
  std::string clip = dir.path("flower_small.mp4");
  ffmpeg("-i " + quote(shared + "/media/flower.mp4") +
         " -map 0 -vf scale=240:136 -c:v libx264 -crf 16 -c:a copy " + quote(clip));
  std::string out = dir.path("flower_candy.mp4");
  auto r = run_vidscore_mpi(2, "--model " + quote(shared + "/models/style_candy.ts.pt") +
                                   " --input " + quote(clip) + " --output " + quote(out) +
                                   " --threads 1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // A short input gets short segments (about 4 per rank, at least 8 frames): both ranks work.
  CHECK_THAT(r.output, Catch::Contains("done: 150 frames in 8 segments"));
  CHECK_THAT(r.output, !Catch::Contains(": 0 (0 segments)"));
  check_frames_and_audio(clip, out, 150);
  auto a = decode_rgb(clip, 240, 136), b = decode_rgb(out, 240, 136);
  REQUIRE(b.size() == 150);
  CHECK(psnr(a[75], b[75]) < 15.0);
}

TEST_CASE("memory on every rank does not grow with the video's length", "[mpi][slow]") {
  TempDir dir;
  std::string model = dir.path("identity.ts.pt");
  save_filter("identity", model);
  auto peak_rss = [&](int seconds) {
    std::string clip = dir.path("long" + std::to_string(seconds) + ".mp4");
    ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25:duration=" + std::to_string(seconds) +
           " -f lavfi -i sine=duration=" + std::to_string(seconds) +
           " -c:v libx264 -preset ultrafast -c:a aac " + quote(clip));
    auto r = run_vidscore_mpi(2, "--model " + quote(model) + " --input " + quote(clip) +
                                     " --output " + quote(dir.path("o.mp4")) +
                                     " --preset ultrafast --threads 1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string key = "peak RSS per rank: 0: ";
    auto at = r.output.find(key);
    REQUIRE(at != std::string::npos);
    auto rank1 = r.output.find(", 1: ", at);
    REQUIRE(rank1 != std::string::npos);
    return std::make_pair(std::stod(r.output.substr(at + key.size())),
                          std::stod(r.output.substr(rank1 + 5)));
  };
  auto short_rss = peak_rss(4), long_rss = peak_rss(40);  // 100 and 1000 frames
  INFO("peak RSS rank 0: " << short_rss.first << " MiB for 100 frames, " << long_rss.first
                           << " for 1000; rank 1: " << short_rss.second << ", "
                           << long_rss.second);
  CHECK(long_rss.first < short_rss.first * 1.10);
  CHECK(long_rss.second < short_rss.second * 1.10);
}

TEST_CASE("a killed rank ends the job and leaves no partial output", "[mpi]") {
  TempDir dir;
  std::string clip = dir.path("long.mp4");
  ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=25:duration=12 -f lavfi -i sine=duration=12 "
         "-c:v libx264 -preset ultrafast -c:a aac " + quote(clip));
  // Slow on purpose (about 0.5 s a batch), so the job is still running when a rank is killed.
  std::string model = dir.path("slow.ts.pt");
  save_scripted("def forward(self, x):\n    y = x\n    for i in range(1500):\n"
                "        y = y * 1.0\n    return y\n", model);
  std::string out = dir.path("killed_run_out.mp4");
  // Start the job, let it get going, then SIGKILL the newest of its vidscore processes (a rank).
  std::string job = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun "
                    "--oversubscribe --bind-to none -np 2 " + quote(VIDSCORE_BIN) +
                    " --progress off --threads 1 --model " + quote(model) + " --input " +
                    quote(clip) + " --output " + quote(out);
  auto r = run("(" + job + ") & pid=$!; sleep 4; pkill -9 -n -f '^[^ ]*/vidscore .*killed_run_out'; "
               "start=$(date +%s.%N); wait $pid; code=$?; "
               "echo \"exit=$code after=$(echo \"$(date +%s.%N) - $start\" | bc)\"");
  INFO(r.output);
  CHECK_THAT(r.output, Catch::Contains("exit=") && !Catch::Contains("exit=0 "));
  auto at = r.output.find("after=");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(r.output.substr(at + 6)) < 30.0);
  CHECK_FALSE(file_exists(out));
  CHECK(files_with_prefix(dir.path(""), "killed_run_out.mp4.partial").empty());
}
