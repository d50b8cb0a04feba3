// fray's cluster API in one include: job requests, clusters (local and
// Slurm), job handles, errors.
#pragma once

#include "fray/byte_size.hpp"
#include "fray/cluster.hpp"
#include "fray/cluster_spec.hpp"
#include "fray/job_errors.hpp"
#include "fray/job_info.hpp"
#include "fray/job_request.hpp"
#include "fray/local_cluster.hpp"
#include "fray/slurm_cluster.hpp"
