#pragma once
// Text to numbers, strictly: the whole text is one decimal integer in range,
// with nothing before or after it (no sign for unsigned types, no spaces, no
// "12abc"). One parser for every integer latchkey reads from a person or a
// peer: query parameters, configuration, flags, listen ports.

#include <charconv>
#include <concepts>
#include <optional>
#include <string_view>

namespace latchkey {

template <std::integral T>
[[nodiscard]] std::optional<T> parse_integer(std::string_view text) noexcept {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// The same, also refused outside [min, max].
template <std::integral T>
[[nodiscard]] std::optional<T> parse_integer(std::string_view text, T min, T max) noexcept {
  const auto v = parse_integer<T>(text);
  if (!v || *v < min || *v > max) return std::nullopt;
  return v;
}

}  // namespace latchkey
