// Job requests and infos as JSON, for request.json, status.json and the
// supervisor's input.
#pragma once

#include <boost/json/value.hpp>

#include <string_view>

#include "fray/job_info.hpp"
#include "fray/job_request.hpp"

namespace fray::detail {

// With `redact`, the userinfo of every URL (index, find-links, URL
// requirements) is hidden, "user:****" (what goes to disk); without, the
// request whole (what goes down a pipe, or to a 0600 file for Slurm).
boost::json::value request_to_json(const JobRequest& request, bool redact);
// Throws InvalidJobRequest on a document that is not a request.
JobRequest request_from_json(const boost::json::value& json);

boost::json::value info_to_json(const JobInfo& info);
// Throws std::runtime_error on a document that is not a JobInfo.
JobInfo info_from_json(const boost::json::value& json);

// JSON text as Python's json.dumps writes numbers: 5.0 for a float, never
// Boost's 5E0 (results are shown to people).
std::string json_text(const boost::json::value& value);

// Parses a request, a supervisor's input or a status: nested as deep as a
// Python entrypoint's arguments may be (fray::max_python_json_depth) plus
// the levels around them, not Boost's default 32. Throws
// boost::system::system_error; with `error`, sets it instead.
boost::json::value parse_job_json(std::string_view text);
boost::json::value parse_job_json(std::string_view text, boost::system::error_code& error);

}  // namespace fray::detail
