#include "vidscore/cluster/mpi_env.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace vidscore {

void mpi_check(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw RuntimeError(std::string("MPI: ") + call + " failed at " + file + ":" +
                     std::to_string(line) + ": " + text);
}

bool MpiEnv::launched() {
  // VIDSCORE_MPI=1 or 0 settles it, for a launcher not listed below.
  if (const char* forced = std::getenv("VIDSCORE_MPI"); forced && *forced)
    return std::strcmp(forced, "0") != 0;
  // Open MPI (mpirun, and srun through PMIx), MPICH and Intel MPI (Hydra, simple PMI over a
  // socket or a port), MVAPICH, PMIx launchers (prterun, srun --mpi=pmix), Cray ALPS and PALS,
  // IBM jsrun, Flux.
  static const char* const kLaunchers[] = {
      "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",   "PMIX_NAMESPACE",      "PMI_RANK",
      "PMI_SIZE",             "PMI_FD",      "PMI_PORT",            "PMI_ID",
      "MPI_LOCALNRANKS",      "MV2_COMM_WORLD_SIZE", "ALPS_APP_PE", "PALS_RANKID",
      "JSM_NAMESPACE_SIZE",   "FLUX_TASK_RANK"};
  for (const char* name : kLaunchers)
    if (std::getenv(name)) return true;
  // An srun step of several tasks: Open MPI may find its peers through Slurm's own PMI, which
  // sets none of the above.
  const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  return tasks && std::atoi(tasks) > 1;
}

namespace {

// Open MPI picks its point-to-point layer (pml) by opening each: "cm" probes the libfabric and
// PSM/PSM2 networks through its MTLs, which costs 0.2-0.3 s of every start on nodes without them
// (Debian's Open MPI 4.1 on the development VM: MPI_Init 0.22 s with it, 0.02-0.03 s without).
// vidscore's messages are compressed packets (about 2 KB per 1080p frame each way) that "ob1"
// (shared memory, TCP) or "ucx" (InfiniBand) carry well, so cm is left out unless the job chooses
// a pml or an MTL itself (mpirun --mca pml/mtl, or OMPI_MCA_pml/OMPI_MCA_mtl in the environment).
// Other MPIs ignore the variable.
void leave_out_open_mpi_cm() {
  if (std::getenv("OMPI_MCA_pml") || std::getenv("OMPI_MCA_mtl")) return;
  setenv("OMPI_MCA_pml", "^cm", 0);
}

}  // namespace

MpiEnv::MpiEnv(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized && !launched()) {
    char name[256] = {0};
    gethostname(name, sizeof(name) - 1);
    host_ = name;
    return;  // a job of one rank; no MPI call is made
  }
  if (!initialized) {
    leave_out_open_mpi_cm();
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    initialized_here_ = true;
    if (provided < MPI_THREAD_FUNNELED)
      throw RuntimeError("MPI provides thread level " + std::to_string(provided) +
                         ", vidscore needs MPI_THREAD_FUNNELED");
  }
  // Errors come back as codes (MPI_CHECK), not as MPI's default abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm node = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
  MPI_CHECK(MPI_Comm_size(node, &local_size_));
  MPI_Comm_free(&node);
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  host_.assign(name, len);
}

MpiEnv::~MpiEnv() {
  if (!initialized_here_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiEnv::abort(int code) const {
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void MpiEnv::broadcast(void* data, int bytes) const {
  if (size_ > 1) MPI_CHECK(MPI_Bcast(data, bytes, MPI_BYTE, 0, MPI_COMM_WORLD));
}

void MpiEnv::gather(const void* mine, int bytes, void* all) const {
  if (size_ > 1) {
    MPI_CHECK(MPI_Gather(mine, bytes, MPI_BYTE, all, bytes, MPI_BYTE, 0, MPI_COMM_WORLD));
  } else if (bytes > 0) {
    std::memcpy(all, mine, static_cast<size_t>(bytes));
  }
}

}  // namespace vidscore
