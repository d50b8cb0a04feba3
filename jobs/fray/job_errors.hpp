// The errors of the cluster API. Every one is a fray::Error with a message
// that says which job and why.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <fray/errors.hpp>

#include "fray/job_info.hpp"

namespace fray {

class JobError : public Error {
 public:
  using Error::Error;
};

// A request that can never be run as given (bad name, no command...).
class InvalidJobRequest : public JobError {
 public:
  using JobError::JobError;
};

// The request asks for more than the cluster has: it would wait forever.
class JobRejected : public JobError {
 public:
  using JobError::JobError;
};

class JobNotFound : public JobError {
 public:
  explicit JobNotFound(const JobId& id) : JobError("no job '" + id + "' on this cluster"), id_(id) {}
  const JobId& id() const noexcept { return id_; }

 private:
  JobId id_;
};

// wait(..., raise_on_failure): one or more jobs failed or were stopped.
class JobFailed : public JobError {
 public:
  explicit JobFailed(std::vector<JobInfo> jobs);
  // Every job that did not succeed, with its error.
  const std::vector<JobInfo>& jobs() const noexcept { return jobs_; }

 private:
  std::vector<JobInfo> jobs_;
};

// wait(..., timeout) passed with jobs still unfinished.
class JobWaitTimeout : public JobError {
 public:
  using JobError::JobError;
};

// A FRAY_CLUSTER_SPEC (or spec string) fray does not understand.
class InvalidClusterSpec : public JobError {
 public:
  using JobError::JobError;
};

// A Slurm command failed: carries Slurm's own message.
class SlurmError : public JobError {
 public:
  SlurmError(std::string command, std::string slurm_message)
      : JobError(command + ": " + slurm_message), command_(std::move(command)), slurm_message_(std::move(slurm_message)) {}
  const std::string& command() const noexcept { return command_; }
  const std::string& slurm_message() const noexcept { return slurm_message_; }

 private:
  std::string command_;
  std::string slurm_message_;
};

}  // namespace fray
