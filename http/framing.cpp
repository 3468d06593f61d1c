#include "http/framing.h"

#include <iterator>

namespace latchkey::http {

namespace bhttp = boost::beast::http;

namespace {

// RFC 9110 §5.6.3: OWS = *( SP / HTAB ).
std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;  // `b` is lower case
  }
  return true;
}

// 1*DIGIT that fits in 64 bits: the parser keeps the length in a uint64.
bool decimal_length(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;  // 10^19 - 1 < 2^64
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> framing_problem(const bhttp::request_header<>& h) {
  const auto te = h.equal_range(bhttp::field::transfer_encoding);
  const auto cl = h.equal_range(bhttp::field::content_length);
  const auto te_fields = std::distance(te.first, te.second);
  const auto cl_fields = std::distance(cl.first, cl.second);
  if (te_fields > 0) {
    // RFC 9112 §6.1 and §6.3 (3): both together may be a smuggling attempt;
    // a server may reject the request, and must close the connection after it.
    if (cl_fields > 0) return "Transfer-Encoding and Content-Length together";
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding is treated as
    // faulty framing, whatever else it says.
    if (h.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    // RFC 9110 §5.3 lets a recipient join field lines into one list; a reader
    // that does not would see a different final coding.
    if (te_fields > 1) return "more than one Transfer-Encoding field";
    // RFC 9112 §6.3 (4): a final coding other than chunked leaves the length
    // unknown (400, then close); §7.1: chunked takes no parameters; §6.1:
    // chunked is never applied twice, and latchkey decodes no other coding.
    if (!iequals_ascii(trim_ows(te.first->value()), "chunked"))
      return "Transfer-Encoding must be exactly chunked";
    return std::nullopt;
  }
  // RFC 9110 §8.6: a repeated Content-Length, even of equal values, may be
  // rejected. Rejected, it never matters whether a reader collapses equal
  // values, takes the first or takes the last.
  if (cl_fields > 1) return "more than one Content-Length field";
  // RFC 9112 §6.3 (5): an invalid Content-Length is an unrecoverable error (400, then close).
  if (cl_fields == 1 && !decimal_length(trim_ows(cl.first->value())))
    return "Content-Length must be one decimal number";
  return std::nullopt;
}

void ObsFoldScan::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (after_lf_ && (c == ' ' || c == '\t')) found_ = true;
    after_lf_ = c == '\n';
  }
}

std::optional<std::string> ObsFoldScan::problem() const {
  // RFC 9112 §5.2 lets a server reject obs-fold with 400 rather than unfold it:
  // a reader that does not unfold sees other fields (a Transfer-Encoding or a
  // Content-Length that this one does not).
  if (found_) return "obsolete line folding (a header line starting with whitespace)";
  return std::nullopt;
}

}  // namespace latchkey::http
