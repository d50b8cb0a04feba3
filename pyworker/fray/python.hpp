// fray's Python workers, in one include: WorkerPool (functions), Python
// actors, their options, arguments, JSON limits and errors.
#pragma once

#include "fray/python_actor.hpp"
#include "fray/python_actor_options.hpp"
#include "fray/python_args.hpp"
#include "fray/python_errors.hpp"
#include "fray/python_function.hpp"
#include "fray/python_json.hpp"
#include "fray/worker_log.hpp"
#include "fray/worker_pool.hpp"
#include "fray/worker_pool_options.hpp"
