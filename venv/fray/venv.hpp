// fray's isolated Python environments, in one include: IsolatedVirtualEnv,
// its options, process results, errors and the cache.
#pragma once

#include "fray/isolated_virtual_env.hpp"
#include "fray/process_result.hpp"
#include "fray/run_options.hpp"
#include "fray/venv_cache.hpp"
#include "fray/venv_errors.hpp"
#include "fray/venv_options.hpp"
