#include "vidscore/cluster/mpi_env.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <link.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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
// On such nodes "ob1" (shared memory, TCP) or "ucx" (InfiniBand) carry vidscore's messages, so
// cm is added to the pml exclusions, unless the job or the site has chosen:
// - OMPI_MCA_pml or OMPI_MCA_mtl is set (mpirun --mca pml/mtl arrives that way too), or the job
//   names its own parameter files;
// - a parameter file (the user's ~/.openmpi/mca-params.conf over the installation's
//   openmpi-mca-params.conf) selects a pml or an MTL by name, rather than excluding some;
// - the node has a fabric whose native path is cm: Omni-Path (hfi1), AWS EFA, HPE Slingshot.
// Exclusions already in the files stay (Debian's own file has "pml = ^ucx": the result here is
// "^ucx,cm"). Other MPIs ignore the variable.

// `key` in an Open MPI parameter file ("key = value" lines, # comments), or "" when absent.
std::string mca_file_value(const std::string& path, const std::string& key) {
  auto trim = [](const std::string& t) {
    const size_t b = t.find_first_not_of(" \t\r");
    const size_t e = t.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  };
  std::ifstream in(path);
  std::string line, value;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    if (trim(line.substr(0, eq)) == key) value = trim(line.substr(eq + 1));
  }
  return value;
}

// The parameter files Open MPI reads, the system's first: the installation's (next to the
// libmpi this process loaded, or OPAL_PREFIX), Debian's /etc/openmpi, then the user's.
std::vector<std::string> mca_param_files() {
  std::vector<std::string> files;
  std::string libmpi;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const char* name = info->dlpi_name;
        if (name && std::strstr(name, "/libmpi.so")) {
          *static_cast<std::string*>(out) = name;
          return 1;
        }
        return 0;
      },
      &libmpi);
  if (!libmpi.empty()) {
    const std::filesystem::path lib = std::filesystem::path(libmpi).parent_path();
    files.push_back((lib.parent_path() / "etc/openmpi-mca-params.conf").string());
  }
  if (const char* prefix = std::getenv("OPAL_PREFIX"))
    files.push_back(std::string(prefix) + "/etc/openmpi-mca-params.conf");
  if (const char* sysconf = std::getenv("OPAL_SYSCONFDIR"))
    files.push_back(std::string(sysconf) + "/openmpi-mca-params.conf");
  files.push_back("/etc/openmpi/openmpi-mca-params.conf");
  if (const char* home = std::getenv("HOME"))
    files.push_back(std::string(home) + "/.openmpi/mca-params.conf");
  return files;
}

bool has_cm_fabric() {
  std::error_code ec;
  if (std::filesystem::exists("/sys/class/cxi", ec)) return true;  // Slingshot
  for (const auto& dev : std::filesystem::directory_iterator("/sys/class/infiniband", ec)) {
    const std::string name = dev.path().filename().string();
    if (name.rfind("hfi1", 0) == 0 || name.rfind("efa", 0) == 0) return true;
  }
  return false;
}

void leave_out_open_mpi_cm() {
  for (const char* chosen : {"OMPI_MCA_pml", "OMPI_MCA_mtl", "OMPI_MCA_mca_base_param_files",
                             "OMPI_MCA_mca_base_param_file_prefix"})
    if (std::getenv(chosen)) return;
  std::string pml, mtl;  // the last file that sets each wins, as in Open MPI
  for (const std::string& file : mca_param_files()) {
    if (std::string v = mca_file_value(file, "pml"); !v.empty()) pml = v;
    if (std::string v = mca_file_value(file, "mtl"); !v.empty()) mtl = v;
  }
  if ((!pml.empty() && pml[0] != '^') || (!mtl.empty() && mtl[0] != '^')) return;
  if (has_cm_fabric()) return;
  setenv("OMPI_MCA_pml", (pml.empty() ? std::string("^cm") : pml + ",cm").c_str(), 0);
}

// The PMIx server's address from the launcher's environment, or null.
const char* pmix_server_uri() {
  for (const char* name : {"PMIX_SERVER_URI41", "PMIX_SERVER_URI4", "PMIX_SERVER_URI3",
                           "PMIX_SERVER_URI21", "PMIX_SERVER_URI2"})
    if (const char* v = std::getenv(name); v && *v) return v;
  return nullptr;
}

}  // namespace

int pmix_connection_without_delay(const char* uri) {
  // "<namespace>.<rank>;tcp4://127.0.0.1:41937" or ";tcp6://[::1]:41937"
  if (!uri) return 0;
  const std::string text = uri;
  const bool v6 = text.find("tcp6://") != std::string::npos;
  const size_t at = text.find(v6 ? "tcp6://" : "tcp4://");
  const size_t colon = text.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon <= at + 7) return 0;
  std::string host = text.substr(at + 7, colon - at - 7);
  if (v6 && host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const long port = std::strtol(text.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) return 0;
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), v6 ? static_cast<void*>(&a6)
                                                           : static_cast<void*>(&a4)) != 1)
    return 0;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  int changed = 0;
  while (dirent* e = readdir(dir)) {
    char* last = nullptr;
    const long fd = std::strtol(e->d_name, &last, 10);
    if (last == e->d_name || *last != '\0' || fd == dirfd(dir)) continue;
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM)
      continue;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
      continue;
    bool match = false;
    if (!v6 && peer.ss_family == AF_INET) {
      const auto* p = reinterpret_cast<const sockaddr_in*>(&peer);
      match = p->sin_addr.s_addr == a4.s_addr && ntohs(p->sin_port) == port;
    } else if (v6 && peer.ss_family == AF_INET6) {
      const auto* p = reinterpret_cast<const sockaddr_in6*>(&peer);
      match = std::memcmp(&p->sin6_addr, &a6, sizeof(a6)) == 0 && ntohs(p->sin6_port) == port;
    }
    int one = 1;
    if (match && setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
      ++changed;
  }
  closedir(dir);
  return changed;
}

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
    pmix_connection_without_delay(pmix_server_uri());
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
