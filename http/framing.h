#pragma once
// Where a request's body ends, decided from its header before any of the body
// is read (docs/reliability.md, "Request framing").
//
// Two readers of the same bytes must agree where a request ends, or a client
// can hide a second request in the body of the first (request smuggling): a
// proxy in front frames the body one way and forwards it as one request, this
// server frames it another way and runs the rest as a request of its own.
// Boost.Beast 1.81 settles only part of this: it refuses "Transfer-Encoding:
// chunked" beside a Content-Length, but frames "Transfer-Encoding: chunked,
// identity" (or "identity", "xchunked", ...) followed by a Content-Length by
// the Content-Length, takes "chunked;x=1" for chunked, accepts the same
// Content-Length twice, and folds obs-fold lines into the field they continue.
// So latchkey accepts only the two framings RFC 9112 §6 leaves no doubt about
// and refuses every other with 400, closing the connection.

#include <boost/beast/http/message.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace latchkey::http {

// Why the body of a request with header `h` cannot be framed without doubt,
// or nullopt when it can. It can when the header has either
//   - no Transfer-Encoding and at most one Content-Length field, whose value
//     is one decimal number (1*DIGIT); or
//   - no Content-Length and exactly one Transfer-Encoding field, whose value
//     is "chunked" (case-insensitive), in HTTP/1.1.
// Anything else is refused: both fields together (in either order), any
// other coding or list of codings (even one ending in chunked: latchkey
// decodes no other), parameters, quotes, an empty value, a repeated field
// (even with equal values), a Content-Length list ("5, 5"), a sign or junk.
// Optional whitespace around a field's value is not part of the value (RFC
// 9110 §5.5) and is ignored. The message, for the client, names the rule
// broken and never echoes the header's bytes.
std::optional<std::string> framing_problem(const boost::beast::http::request_header<>& h);

// Looks for obs-fold (RFC 9112 §5.2: a header line that starts with a space
// or a tab, continuing the field above) in the bytes of a request header.
// The parser folds such a line into the field it continues, so the parsed
// header cannot show it: feed this every byte the parser consumes for the
// header, in order, in as many pieces as it takes. Relies on the parser
// having refused any CR or LF that is not part of a CRLF.
class ObsFoldScan {
 public:
  void feed(std::string_view bytes);
  // A message for the client once a folded line was seen, else nullopt.
  std::optional<std::string> problem() const;

 private:
  bool after_lf_ = false;  // the last byte fed was a LF
  bool found_ = false;
};

}  // namespace latchkey::http
