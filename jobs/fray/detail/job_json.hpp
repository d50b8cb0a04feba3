// Job requests and infos as JSON, for request.json, status.json and the
// supervisor's input.
#pragma once

#include <boost/json/value.hpp>

#include "fray/job_info.hpp"
#include "fray/job_request.hpp"

namespace fray::detail {

// With `redact`, the userinfo of every index URL becomes "user:****"
// (what goes to disk); without, the request whole (what goes down a pipe).
boost::json::value request_to_json(const JobRequest& request, bool redact);
// Throws InvalidJobRequest on a document that is not a request.
JobRequest request_from_json(const boost::json::value& json);

boost::json::value info_to_json(const JobInfo& info);
// Throws std::runtime_error on a document that is not a JobInfo.
JobInfo info_from_json(const boost::json::value& json);

// JSON text as Python's json.dumps writes numbers: 5.0 for a float, never
// Boost's 5E0 (results are shown to people).
std::string json_text(const boost::json::value& value);

// "https://user:pass@host/x" → "https://user:****@host/x"; other text as is.
std::string redact_url(std::string_view url);

}  // namespace fray::detail
