// The suites fray-bench can run. Each one records fray's metrics and the
// peers measured beside them into the report (names: bench-contract.md).
#pragma once

#include "report.hpp"

namespace fray::bench {

void run_core_suite(Report& report, const SuiteOptions& options);
void run_actors_suite(Report& report, const SuiteOptions& options);
void run_venv_suite(Report& report, const SuiteOptions& options);
void run_python_suite(Report& report, const SuiteOptions& options);
void run_jobs_suite(Report& report, const SuiteOptions& options);

}  // namespace fray::bench
