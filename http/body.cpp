#include "http/body.h"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>

#include "base/parse.h"

namespace latchkey::http {
namespace {

Error invalid(std::string m) { return make_error(Errc::invalid_request, std::move(m)); }

// nlohmann::json converts from almost anything, so say which side of the result is meant.
Result<nlohmann::json> ok(nlohmann::json j) {
  return Result<nlohmann::json>(boost::system::in_place_value, std::move(j));
}

Result<std::map<std::string, std::string>> parse_pairs(std::string_view text, bool plus_is_space) {
  std::map<std::string, std::string> out;
  if (text.empty()) return out;
  // Boost.URL 1.81's parse_query runs strlen over its argument, past the end
  // of a view that is not followed by a NUL: give it a string of its own.
  const std::string owned(text);
  auto parsed = boost::urls::parse_query(owned);
  if (!parsed) return invalid("malformed query or form encoding");
  boost::urls::encoding_opts opts;
  opts.space_as_plus = plus_is_space;
  boost::urls::params_view params(owned, opts);  // valid: checked by parse_query above
  for (const auto& p : params) {
    if (p.key.empty()) continue;
    if (!out.emplace(p.key, p.has_value ? p.value : std::string()).second) {
      return invalid("parameter '" + p.key + "' is given twice");
    }
  }
  return out;
}

}  // namespace

Result<nlohmann::json> parse_json_object(std::string_view body) {
  // Track keys per open object to refuse duplicates; depth is bounded.
  std::vector<std::set<std::string>> keys;
  bool duplicate = false;
  bool too_deep = false;
  std::string dup_key;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth > kMaxJsonDepth) {
      too_deep = true;
      return false;
    }
    if (ev == E::object_start) keys.emplace_back();
    if (ev == E::object_end && !keys.empty()) keys.pop_back();
    if (ev == E::key && !keys.empty()) {
      const std::string k = parsed.get<std::string>();
      if (!keys.back().insert(k).second) {
        duplicate = true;
        dup_key = k;
      }
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body.begin(), body.end(), cb, /*allow_exceptions=*/true,
                              /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception&) {
    // parse_error, and out_of_range for a number beyond a double (1e400).
    if (too_deep) return invalid("JSON nested deeper than " + std::to_string(kMaxJsonDepth));
    return invalid("malformed JSON body");
  }
  if (too_deep) return invalid("JSON nested deeper than " + std::to_string(kMaxJsonDepth));
  if (duplicate) return invalid("field '" + dup_key + "' is given twice");
  if (!j.is_object()) return invalid("the body must be a JSON object");
  return ok(std::move(j));
}

Result<std::map<std::string, std::string>> parse_form(std::string_view body) {
  return parse_pairs(body, true);
}

Result<std::map<std::string, std::string>> parse_query(std::string_view query) {
  return parse_pairs(query, false);
}

Result<nlohmann::json> parse_body(const Request& req, BodyKinds kinds, bool optional) {
  const std::string type = req.content_type();
  if (req.body.empty() && optional) return ok(nlohmann::json::object());
  if (type == "application/json") return parse_json_object(req.body);
  if (kinds == BodyKinds::json_or_form && type == "application/x-www-form-urlencoded") {
    auto form = parse_form(req.body);
    if (!form) return form.error();
    nlohmann::json j = nlohmann::json::object();
    for (auto& [k, v] : *form) {
      j[k] = v;
    }
    // Form values must be valid UTF-8 too: dump() throws on invalid UTF-8.
    try {
      (void)j.dump();
    } catch (const nlohmann::json::type_error&) {
      return invalid("form values must be UTF-8");
    }
    return ok(std::move(j));
  }
  if (req.body.empty()) return invalid("a JSON body is required");
  return make_error(
      Errc::unsupported_media_type,
      kinds == BodyKinds::json_only
          ? "Content-Type must be application/json"
          : "Content-Type must be application/json or application/x-www-form-urlencoded");
}

const nlohmann::json* Fields::get(const char* name) {
  read_.insert(name);
  const auto it = obj_.find(name);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

void Fields::problem(std::string message) {
  if (!first_problem_) first_problem_ = invalid(std::move(message));
}

std::optional<std::string> Fields::string(const char* name) {
  const auto* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    problem(std::string(name) + " must be a string");
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::string Fields::required_string(const char* name) {
  const bool present = obj_.contains(name) && !obj_.at(name).is_null();
  auto v = string(name);
  if (!present) problem(std::string(name) + " is required");
  return v.value_or(std::string());
}

std::optional<std::int64_t> Fields::integer(const char* name) {
  const auto* v = get(name);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() &&
        v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      problem(std::string(name) + " is out of range");
      return std::nullopt;
    }
    return v->get<std::int64_t>();
  }
  // A string is the wrong type, even "30": the only bodies with integer fields
  // are JSON, and the contract answers a wrong-typed field with 400.
  problem(std::string(name) +
          (v->is_number_float() ? " must be a whole number in range" : " must be an integer"));
  return std::nullopt;
}

std::optional<double> Fields::number(const char* name) {
  const auto* v = get(name);
  if (!v) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  problem(std::string(name) + " must be a number");
  return std::nullopt;
}

std::optional<bool> Fields::boolean(const char* name) {
  const auto* v = get(name);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  problem(std::string(name) + " must be true or false");
  return std::nullopt;
}

std::optional<std::vector<std::string>> Fields::strings(const char* name) {
  const auto* v = get(name);
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  const bool ok = v->is_array() &&
                  std::all_of(v->begin(), v->end(), [](const auto& e) { return e.is_string(); });
  if (!ok) {
    problem(std::string(name) + " must be an array of strings");
    return std::nullopt;
  }
  for (const auto& e : *v) out.push_back(e.get<std::string>());
  return out;
}

Status Fields::finish() const {
  if (first_problem_) return *first_problem_;
  for (const auto& [k, v] : obj_.items()) {
    if (!read_.count(k)) return invalid("unknown field '" + k + "'");
  }
  return {};
}

Result<LoginBody> parse_login_body(const Request& req) {
  auto body = parse_body(req, BodyKinds::json_or_form, false);
  if (!body) return body.error();
  Fields f(*body);
  const std::string mode = f.required_string("auth_mode");
  LoginBody out{f.required_string("apikey"), f.required_string("secretkey")};
  if (auto st = f.finish(); !st) return st.error();
  if (mode != "apikey") return invalid("auth_mode must be \"apikey\"");
  return out;
}

std::optional<std::string> Query::string(const char* name) {
  read_.insert(name);
  const auto it = params_.find(name);
  if (it == params_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::int64_t> Query::integer(const char* name, std::int64_t min, std::int64_t max,
                                           const char* what) {
  const auto text = string(name);
  if (!text) return std::nullopt;
  const auto n = parse_integer<std::int64_t>(*text, min, max);
  if (!n && !first_problem_) first_problem_ = invalid(what);
  return n;
}

Status Query::finish() const {
  if (first_problem_) return *first_problem_;
  for (const auto& [k, v] : params_) {
    if (!read_.count(k)) return invalid("unknown query parameter '" + k + "'");
  }
  return {};
}

}  // namespace latchkey::http
