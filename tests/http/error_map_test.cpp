// The one map from failures to statuses, row by row: every Errc and every
// ProtocolError, with its status, wire code and headers.
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "http/error_map.h"

using namespace latchkey;
using namespace latchkey::http;

namespace {

std::optional<std::string> header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

struct ErrcRow {
  Errc code;
  unsigned status;
  const char* wire;
};

// Every code of base/error.h. A new code without a row here fails below.
const ErrcRow kErrcRows[] = {
    {Errc::invalid_request, 400, "invalid_request"},
    {Errc::invalid_credentials, 401, "invalid_credentials"},
    {Errc::unauthorized, 401, "unauthorized"},
    {Errc::forbidden, 403, "forbidden"},
    {Errc::not_found, 404, "not_found"},
    {Errc::conflict, 409, "conflict"},
    {Errc::payload_too_large, 413, "payload_too_large"},
    {Errc::unsupported_media_type, 415, "unsupported_media_type"},
    {Errc::too_many_requests, 429, "too_many_requests"},
    {Errc::unavailable, 503, "unavailable"},
    {Errc::internal, 500, "internal"},
    {Errc::corruption, 503, "unavailable"},
    {Errc::exists, 409, "conflict"},
};

struct ProtocolRow {
  ProtocolError problem;
  unsigned status;
  const char* wire;
};

const ProtocolRow kProtocolRows[] = {
    {ProtocolError::malformed_request, 400, "invalid_request"},
    {ProtocolError::malformed_target, 400, "invalid_request"},
    {ProtocolError::header_too_large, 431, "invalid_request"},
    {ProtocolError::body_too_large, 413, "payload_too_large"},
    {ProtocolError::unknown_route, 404, "not_found"},
    // The contract: a route is a method and a path, so another method on a
    // known path is an unknown route (the router adds Allow).
    {ProtocolError::method_not_allowed, 404, "not_found"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(error_map)

BOOST_AUTO_TEST_CASE(every_code_has_its_row) {
  // The codes are dense from 1: walk them all, so a code added to Errc
  // without a row in kErrcRows is noticed.
  std::size_t seen = 0;
  for (int v = 1; std::string(errc_name(static_cast<Errc>(v))) != "unknown"; ++v) {
    const auto code = static_cast<Errc>(v);
    const auto* row = std::find_if(std::begin(kErrcRows), std::end(kErrcRows),
                                   [&](const ErrcRow& r) { return r.code == code; });
    BOOST_TEST_REQUIRE((row != std::end(kErrcRows)), "no row for " << errc_name(code));
    ++seen;
  }
  BOOST_TEST(seen == std::size(kErrcRows));
}

BOOST_AUTO_TEST_CASE(errc_rows) {
  for (const auto& row : kErrcRows) {
    BOOST_TEST_CONTEXT(errc_name(row.code)) {
      const WireError w = wire_error(row.code);
      BOOST_TEST(code(w.status) == row.status);
      BOOST_TEST(w.code == row.wire);
      const Response r = error_response(make_error(row.code, "the message", "the detail"), "rid-1");
      BOOST_TEST(code(r.status) == row.status);
      const auto body = nlohmann::json::parse(r.body);
      BOOST_TEST(body.at("error").get<std::string>() == row.wire);
      BOOST_TEST(body.at("request_id").get<std::string>() == "rid-1");
      BOOST_TEST(body.size() == 3u);
      // The detail is for the server's log only; an internal error says nothing more.
      BOOST_TEST(r.body.find("the detail") == std::string::npos);
      BOOST_TEST(r.log_note == "the detail");
      BOOST_TEST(body.at("message").get<std::string>() ==
                 (row.code == Errc::internal ? "internal error" : "the message"));
      // Storage failures are never 4xx.
      if (row.code == Errc::unavailable || row.code == Errc::corruption) {
        BOOST_TEST(row.status >= 500u);
        BOOST_TEST(header(r, "Retry-After").value_or("") == "1");
      }
      BOOST_TEST(header(r, "WWW-Authenticate").has_value() == (row.code == Errc::unauthorized));
    }
  }
}

BOOST_AUTO_TEST_CASE(too_many_requests_says_when_to_retry) {
  Error e = make_error(Errc::too_many_requests, "slow down");
  e.retry_after_seconds = 42;
  BOOST_TEST(header(error_response(e, "r"), "Retry-After").value_or("") == "42");
  e.retry_after_seconds = 0;  // never "0": a client would retry at once
  BOOST_TEST(header(error_response(e, "r"), "Retry-After").value_or("") == "1");
}

BOOST_AUTO_TEST_CASE(protocol_rows) {
  for (const auto& row : kProtocolRows) {
    BOOST_TEST_CONTEXT(row.wire << " " << row.status) {
      const WireError w = wire_error(row.problem);
      BOOST_TEST(code(w.status) == row.status);
      BOOST_TEST(w.code == row.wire);
      const Response r = error_response(row.problem, "why", "rid-2");
      BOOST_TEST(code(r.status) == row.status);
      const auto body = nlohmann::json::parse(r.body);
      BOOST_TEST(body.at("error").get<std::string>() == row.wire);
      BOOST_TEST(body.at("message").get<std::string>() == "why");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_message_that_is_not_utf8_is_replaced_not_thrown) {
  const Response r = error_response(make_error(Errc::not_found, "no route /\xff\xfe"), "r");
  BOOST_TEST(nlohmann::json::parse(r.body).at("error").get<std::string>() == "not_found");
}

BOOST_AUTO_TEST_SUITE_END()
