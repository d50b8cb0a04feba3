// fray: tasks, futures and streams on an embedded runtime. One include.
#pragma once

#include "fray/actor.hpp"
#include "fray/errors.hpp"
#include "fray/future.hpp"
#include "fray/job_context.hpp"
#include "fray/object_ref.hpp"
#include "fray/promise.hpp"
#include "fray/resources.hpp"
#include "fray/runtime.hpp"
#include "fray/stream.hpp"
#include "fray/task.hpp"
#include "fray/task_options.hpp"
#include "fray/version.hpp"
#include "fray/wait.hpp"
