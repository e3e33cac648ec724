#include "model/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace tunesmith {

namespace {
const char* kind_name(JsonValue::Kind k) {
  switch (k) {
    case JsonValue::Kind::Null: return "null";
    case JsonValue::Kind::Bool: return "a boolean";
    case JsonValue::Kind::Number: return "a number";
    case JsonValue::Kind::String: return "a string";
    case JsonValue::Kind::Array: return "an array";
    case JsonValue::Kind::Object: return "an object";
  }
  return "?";
}

[[noreturn]] void wrong_kind(const std::string& what, const char* expected, JsonValue::Kind found) {
  throw Error(what + ": expected " + expected + ", found " + kind_name(found));
}

// Nesting deeper than this is rejected rather than risking the stack on hostile input.
constexpr int kMaxDepth = 256;

class Parser {
 public:
  Parser(const char* data, size_t size, const std::string& source) : p_(data), begin_(data), end_(data + size), source_(source) {}

  JsonValue parse_document() {
    skip_ws();
    JsonValue v = parse_value(0);
    skip_ws();
    if (p_ != end_) fail("unexpected trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) {
    throw Error("bad JSON in " + source_ + " at byte " + std::to_string(p_ - begin_) + ": " + msg);
  }
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool consume_literal(const char* lit) {
    size_t n = std::strlen(lit);
    if (size_t(end_ - p_) >= n && std::memcmp(p_, lit, n) == 0) {
      p_ += n;
      return true;
    }
    return false;
  }

  JsonValue parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    if (p_ >= end_) fail("unexpected end of input");
    const char c = *p_;
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return JsonValue::make_string(parse_string());
    if (c == 't') {
      if (consume_literal("true")) return JsonValue::make_bool(true);
      fail("invalid literal");
    }
    if (c == 'f') {
      if (consume_literal("false")) return JsonValue::make_bool(false);
      fail("invalid literal");
    }
    if (c == 'n') {
      if (consume_literal("null")) return JsonValue::make_null();
      fail("invalid literal");
    }
    // Python's json.dumps writes these for non-finite floats; accept them.
    if (consume_literal("NaN")) return JsonValue::make_number(NAN, false, 0);
    if (consume_literal("Infinity")) return JsonValue::make_number(INFINITY, false, 0);
    if (c == '-' && consume_literal("-Infinity")) return JsonValue::make_number(-INFINITY, false, 0);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    fail(std::string("unexpected character '") + c + "'");
  }

  JsonValue parse_number() {
    const char* start = p_;
    bool integral = true;
    if (*p_ == '-') ++p_;
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid number");
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid number");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid number");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    const std::string text(start, p_);
    const double d = std::strtod(text.c_str(), nullptr);
    int64_t integer = 0;
    if (integral) {
      errno = 0;
      long long ll = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) integral = false;
      integer = ll;
    }
    return JsonValue::make_number(d, integral, integer);
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  uint32_t parse_hex4() {
    if (end_ - p_ < 4) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = *p_++;
      v <<= 4;
      if (h >= '0' && h <= '9') v |= uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f') v |= uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= uint32_t(h - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return v;
  }

  std::string parse_string() {
    ++p_;  // opening quote
    std::string out;
    for (;;) {
      if (p_ >= end_) fail("unterminated string");
      const char c = *p_++;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --p_;
        fail("control character in string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= end_) fail("unterminated string");
      const char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
            const char* save = p_;
            p_ += 2;
            const uint32_t low = parse_hex4();
            if (low >= 0xDC00 && low <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            else p_ = save;
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --p_;
          fail("invalid escape");
      }
    }
  }

  JsonValue parse_array(int depth) {
    ++p_;
    std::vector<JsonValue> items;
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return JsonValue::make_array(std::move(items));
    }
    for (;;) {
      skip_ws();
      items.push_back(parse_value(depth + 1));
      skip_ws();
      if (p_ >= end_) fail("unterminated array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return JsonValue::make_array(std::move(items));
      }
      fail("expected ',' or ']'");
    }
  }

  JsonValue parse_object(int depth) {
    ++p_;
    std::vector<std::pair<std::string, JsonValue>> members;
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return JsonValue::make_object(std::move(members));
    }
    for (;;) {
      skip_ws();
      if (p_ >= end_ || *p_ != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_ws();
      if (p_ >= end_ || *p_ != ':') fail("expected ':'");
      ++p_;
      skip_ws();
      JsonValue value = parse_value(depth + 1);
      members.emplace_back(std::move(key), std::move(value));
      skip_ws();
      if (p_ >= end_) fail("unterminated object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return JsonValue::make_object(std::move(members));
      }
      fail("expected ',' or '}'");
    }
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  std::string source_;
};
}  // namespace

bool JsonValue::as_bool(const std::string& what) const {
  if (kind_ != Kind::Bool) wrong_kind(what, "a boolean", kind_);
  return bool_;
}
double JsonValue::as_number(const std::string& what) const {
  if (kind_ != Kind::Number) wrong_kind(what, "a number", kind_);
  return number_;
}
int64_t JsonValue::as_int(const std::string& what) const {
  if (kind_ != Kind::Number) wrong_kind(what, "an integer", kind_);
  if (is_integer_) return integer_;
  if (std::floor(number_) == number_ && std::fabs(number_) < 9.0e15) return int64_t(number_);
  throw Error(what + ": expected an integer, found " + std::to_string(number_));
}
const std::string& JsonValue::as_string(const std::string& what) const {
  if (kind_ != Kind::String) wrong_kind(what, "a string", kind_);
  return string_;
}
const std::vector<JsonValue>& JsonValue::as_array(const std::string& what) const {
  if (kind_ != Kind::Array) wrong_kind(what, "an array", kind_);
  return array_;
}
const std::vector<std::pair<std::string, JsonValue>>& JsonValue::as_object(const std::string& what) const {
  if (kind_ != Kind::Object) wrong_kind(what, "an object", kind_);
  return object_;
}

const JsonValue* JsonValue::find(const std::string& key) const {
  if (kind_ != Kind::Object) return nullptr;
  for (const auto& m : object_)
    if (m.first == key) return &m.second;
  return nullptr;
}

JsonValue JsonValue::make_bool(bool b) {
  JsonValue v;
  v.kind_ = Kind::Bool;
  v.bool_ = b;
  return v;
}
JsonValue JsonValue::make_number(double d, bool is_integer, int64_t integer) {
  JsonValue v;
  v.kind_ = Kind::Number;
  v.number_ = d;
  v.is_integer_ = is_integer;
  v.integer_ = integer;
  return v;
}
JsonValue JsonValue::make_string(std::string s) {
  JsonValue v;
  v.kind_ = Kind::String;
  v.string_ = std::move(s);
  return v;
}
JsonValue JsonValue::make_array(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::Array;
  v.array_ = std::move(items);
  return v;
}
JsonValue JsonValue::make_object(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue v;
  v.kind_ = Kind::Object;
  v.object_ = std::move(members);
  return v;
}

JsonValue parse_json(const char* data, size_t size, const std::string& source) {
  return Parser(data, size, source).parse_document();
}
JsonValue parse_json(const std::string& text, const std::string& source) {
  return parse_json(text.data(), text.size(), source);
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += char(c);
  }
  return out + "\"";
}

}  // namespace tunesmith
