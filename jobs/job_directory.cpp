#include "fray/detail/job_directory.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <random>
#include <system_error>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fray/detail/fs_util.hpp>

#include "fray/detail/job_json.hpp"
#include "fray/job_errors.hpp"

namespace fray::detail {

namespace fs = std::filesystem;

bool is_valid_job_id(std::string_view id) noexcept {
  return !id.empty() && id != "." && id != ".." && id.find('/') == std::string_view::npos && id.find('\0') == std::string_view::npos;
}

void create_private_directories(const fs::path& dir) {
  fs::path made;
  for (const fs::path& part : fs::absolute(dir).lexically_normal()) {
    made /= part;
    if (part.empty() || made == made.root_path()) continue;
    if (::mkdir(made.c_str(), 0700) == 0) {
      if (::chmod(made.c_str(), 0700) != 0) {
        throw std::system_error(errno, std::generic_category(), "fray: chmod " + made.string());
      }
    } else if (errno != EEXIST) {
      throw std::system_error(errno, std::generic_category(), "fray: mkdir " + made.string());
    }
  }
}

JobDirectory JobDirectory::create(const fs::path& jobs_dir, const std::string& name) {
  create_private_directories(jobs_dir);
  std::random_device random;
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  for (int tries = 0;; ++tries) {
    const JobId id = fmt::format("{}-{}-{:06x}", name, stamp, random() & 0xffffff);
    const fs::path root = jobs_dir / id;
    if (::mkdir(root.c_str(), 0700) == 0) {
      JobDirectory dir(jobs_dir, id);
      fs::create_directory(dir.logs_dir());
      return dir;
    }
    if (errno != EEXIST || tries > 100) throw std::system_error(errno, std::generic_category(), "fray: creating " + root.string());
  }
}

JobDirectory JobDirectory::open(const fs::path& jobs_dir, const JobId& id) {
  if (!is_valid_job_id(id)) throw JobNotFound(id);
  JobDirectory dir(jobs_dir, id);
  std::error_code error;
  if (!fs::is_directory(dir.root(), error)) throw JobNotFound(id);
  return dir;
}

fs::path JobDirectory::log_file(int replica, int attempt) const {
  return logs_dir() / (attempt == 0 ? fmt::format("replica-{}.log", replica) : fmt::format("replica-{}.attempt-{}.log", replica, attempt));
}

void JobDirectory::write_request(const JobRequest& request) const {
  write_file_atomic(request_file(), boost::json::serialize(request_to_json(request, /*redact=*/true)), /*durable=*/false);
}

std::optional<JobInfo> JobDirectory::read_status() const {
  const auto text = read_file(status_file());
  if (!text) return std::nullopt;
  boost::system::error_code error;
  const boost::json::value json = boost::json::parse(*text, error);
  if (error) throw JobError(fmt::format("job '{}': status.json is not JSON ({})", id_, error.message()));
  try {
    return info_from_json(json);
  } catch (const std::exception& e) {
    throw JobError(fmt::format("job '{}': status.json is not a job status ({})", id_, e.what()));
  }
}

void JobDirectory::write_status(const JobInfo& info) const {
  write_file_atomic(status_file(), boost::json::serialize(info_to_json(info)), /*durable=*/false);
}

std::vector<LogFile> JobDirectory::log_files() const {
  std::vector<LogFile> files;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(logs_dir(), error)) {
    const std::string name = entry.path().filename().string();
    int replica = 0, attempt = 0, used = 0;
    if (std::sscanf(name.c_str(), "replica-%d.attempt-%d.log%n", &replica, &attempt, &used) == 2 && used == int(name.size())) {
      files.push_back({replica, attempt, entry.path().string()});
    } else if (std::sscanf(name.c_str(), "replica-%d.log%n", &replica, &used) == 1 && used == int(name.size())) {
      files.push_back({replica, 0, entry.path().string()});
    }
  }
  std::sort(files.begin(), files.end(), [](const LogFile& a, const LogFile& b) {
    return std::tie(a.replica, a.attempt) < std::tie(b.replica, b.attempt);
  });
  return files;
}

std::map<std::string, std::string> replica_variables(const JobRequest& request, const JobId& id, std::optional<int> replica,
                                                     const std::string& cluster_spec) {
  std::map<std::string, std::string> vars = request.environment.env_vars;
  vars["FRAY_JOB_ID"] = id;
  vars["FRAY_JOB_NAME"] = request.name;
  if (replica) vars["FRAY_REPLICA_ID"] = std::to_string(*replica);
  vars["FRAY_REPLICA_COUNT"] = std::to_string(request.replicas);
  vars["FRAY_CLUSTER_SPEC"] = cluster_spec;
  vars["FRAY_JOB_CPU"] = fmt::format("{}", request.resources.cpu);
  if (request.resources.ram > 0) vars["FRAY_JOB_RAM"] = std::to_string(request.resources.ram);
  vars["FRAY_JOB_GPU"] = std::to_string(request.resources.gpu_count());
  return vars;
}

}  // namespace fray::detail
