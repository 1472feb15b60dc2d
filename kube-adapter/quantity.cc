#include "kube-adapter/quantity.h"

#include <string>

namespace capstan::kube {
namespace {

using Int128 = __int128;

constexpr int64_t kMaxInt64 = INT64_MAX;
constexpr Int128 kNanosPerUnit = 1000000000;
// 2^63-1 whole units: the representable magnitude.
constexpr Int128 kMaxNanos = static_cast<Int128>(kMaxInt64) * kNanosPerUnit;

const char kErrFormatWrong[] =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const char kErrSuffix[] = "unable to parse quantity's suffix";
const char kErrNumeric[] = "unable to parse numeric part of quantity";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Kubernetes' parseQuantityString: splits into sign, integer digits (leading
// zeros stripped), fraction digits and suffix; same quirks ("." and "-" are 0).
bool SplitQuantity(std::string_view s, bool* positive, std::string* num, std::string* denom,
                   std::string* suffix) {
  *positive = true;
  size_t pos = 0, end = s.size();
  if (pos < end && (s[0] == '-' || s[0] == '+')) {
    *positive = s[0] != '-';
    pos++;
  }
  while (pos < end && s[pos] == '0') pos++;
  if (pos >= end) {
    *num = "0";
    return true;
  }
  size_t i = pos;
  while (i < end && IsDigit(s[i])) i++;
  *num = std::string(s.substr(pos, i - pos));
  if (i >= end) return true;
  if (num->empty()) *num = "0";
  pos = i;
  if (s[pos] == '.') {
    pos++;
    i = pos;
    while (i < end && IsDigit(s[i])) i++;
    *denom = std::string(s.substr(pos, i - pos));
    if (i >= end) return true;
    pos = i;
  }
  size_t suffix_start = pos;
  i = pos;
  while (i < end && std::string_view("eEinumkKMGTP").find(s[i]) != std::string_view::npos) i++;
  if (i >= end) {
    *suffix = std::string(s.substr(suffix_start));
    return true;
  }
  pos = i;
  if (s[pos] == '-' || s[pos] == '+') pos++;
  for (i = pos; i < end; i++) {
    if (!IsDigit(s[i])) return false;  // ErrFormatWrong
  }
  *suffix = std::string(s.substr(suffix_start));
  return true;
}

// Kubernetes' suffixer: base (2 or 10), exponent and format of a suffix.
bool InterpretSuffix(const std::string& suffix, int* base, int64_t* exponent,
                     Quantity::Format* format) {
  static const std::pair<const char*, int> kDecimal[] = {{"n", -9}, {"u", -6}, {"m", -3}, {"", 0},
                                                         {"k", 3},  {"M", 6},  {"G", 9},  {"T", 12},
                                                         {"P", 15}, {"E", 18}};
  static const std::pair<const char*, int> kBinary[] = {{"Ki", 10}, {"Mi", 20}, {"Gi", 30},
                                                        {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
  for (const auto& [s, e] : kDecimal) {
    if (suffix == s) {
      *base = 10, *exponent = e, *format = Quantity::Format::kDecimalSI;
      return true;
    }
  }
  for (const auto& [s, e] : kBinary) {
    if (suffix == s) {
      *base = 2, *exponent = e, *format = Quantity::Format::kBinarySI;
      return true;
    }
  }
  if (suffix.size() > 1 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t i = 1;
    bool neg = false;
    if (suffix[i] == '+' || suffix[i] == '-') neg = suffix[i++] == '-';
    if (i >= suffix.size()) return false;
    int64_t v = 0;
    for (; i < suffix.size(); i++) {
      if (!IsDigit(suffix[i])) return false;
      if (v > 1000000) v = 1000000;  // far beyond any representable value; avoid overflow
      v = v * 10 + (suffix[i] - '0');
    }
    *base = 10, *exponent = neg ? -v : v, *format = Quantity::Format::kDecimalExponent;
    return true;
  }
  return false;
}

// Decimal digit string (most significant first) times a small factor.
std::string MulDigits(const std::string& digits, int factor) {
  std::string out(digits.size(), '0');
  int carry = 0;
  for (size_t i = digits.size(); i-- > 0;) {
    int v = (digits[i] - '0') * factor + carry;
    out[i] = static_cast<char>('0' + v % 10);
    carry = v / 10;
  }
  while (carry > 0) {
    out.insert(out.begin(), static_cast<char>('0' + carry % 10));
    carry /= 10;
  }
  return out;
}

// Magnitude rounded away from zero to a multiple of `unit` (a positive power of 10).
Int128 CeilDivAbs(Int128 v, Int128 unit) {
  Int128 q = v / unit;
  if (q * unit != v) q += (v > 0 ? 1 : -1);
  return q;
}

int64_t Saturate(Int128 v) {
  if (v > kMaxInt64) return kMaxInt64;
  if (v < -static_cast<Int128>(kMaxInt64) - 1) return INT64_MIN;
  return static_cast<int64_t>(v);
}

std::string Int128ToString(Int128 v) {
  if (v == 0) return "0";
  bool neg = v < 0;
  std::string s;
  while (v != 0) {
    int d = static_cast<int>(v % 10);
    s.insert(s.begin(), static_cast<char>('0' + (d < 0 ? -d : d)));
    v /= 10;
  }
  if (neg) s.insert(s.begin(), '-');
  return s;
}

}  // namespace

bool Quantity::Parse(std::string_view text, Quantity* out, std::string* error) {
  auto fail = [&](const char* msg) {
    if (error) *error = msg;
    return false;
  };
  if (text.empty()) return fail(kErrFormatWrong);
  bool positive;
  std::string num, denom, suffix;
  if (!SplitQuantity(text, &positive, &num, &denom, &suffix)) return fail(kErrFormatWrong);
  int base;
  int64_t exponent;
  Format format;
  if (!InterpretSuffix(suffix, &base, &exponent, &format)) return fail(kErrSuffix);

  // value = digits * 10^(e10) * 2^(e2), with digits = num+denom.
  std::string digits = num + denom;
  int64_t e10 = -static_cast<int64_t>(denom.size());
  if (base == 10) {
    e10 += exponent;
  } else {
    for (int64_t i = 0; i < exponent; i += 10) digits = MulDigits(digits, 1024);
  }
  size_t first = digits.find_first_not_of('0');
  Int128 nanos = 0;
  if (first != std::string::npos) {
    digits = digits.substr(first);
    // nanos = digits * 10^(e10 + 9), rounded up when digits are dropped.
    int64_t shift = e10 + 9;
    bool round_up = false;
    if (shift < 0) {
      int64_t drop = -shift;
      if (drop >= static_cast<int64_t>(digits.size())) {
        digits = "0";
        round_up = true;  // non-zero below a nano: the minimum representable value
      } else {
        std::string dropped = digits.substr(digits.size() - drop);
        digits.resize(digits.size() - drop);
        round_up = dropped.find_first_not_of('0') != std::string::npos;
      }
    } else if (static_cast<int64_t>(digits.size()) + shift > 40) {
      nanos = kMaxNanos + 1;  // certainly too large
      digits.clear();
    } else {
      digits.append(static_cast<size_t>(shift), '0');
    }
    for (char c : digits) {
      nanos = nanos * 10 + (c - '0');
      if (nanos > kMaxNanos) break;
    }
    if (round_up) nanos += 1;
    if (nanos > kMaxNanos) {
      // Kubernetes caps binary quantities at MaxInt64; it would keep large decimals
      // as arbitrary precision, which this representation does not.
      if (format != Format::kBinarySI) return fail(kErrNumeric);
      nanos = kMaxNanos;
    }
  }
  if (format == Format::kBinarySI && nanos > 0 && nanos < kNanosPerUnit) {
    format = Format::kDecimalSI;  // Kubernetes: binary values below 1 become decimal
  }
  out->nanos_ = positive ? nanos : -nanos;
  out->format_ = format;
  return true;
}

bool Quantity::FromJson(const Json& value, Quantity* out, std::string* error) {
  if (value.is_null()) {
    *out = Quantity();
    return true;
  }
  if (value.is_string()) return Parse(value.get_ref<const std::string&>(), out, error);
  if (value.is_number_integer()) return Parse(value.dump(), out, error);
  if (value.is_number_float()) {
    // nlohmann prints the shortest text that round-trips ("0.1", "1e+21").
    return Parse(value.dump(), out, error);
  }
  if (error) *error = kErrFormatWrong;
  return false;
}

Quantity Quantity::MustParse(std::string_view text) {
  Quantity q;
  std::string err;
  if (!Parse(text, &q, &err)) return Quantity();
  return q;
}

Quantity Quantity::FromValue(int64_t value, Format format) {
  Quantity q;
  q.nanos_ = static_cast<Int128>(value) * kNanosPerUnit;
  q.format_ = format;
  return q;
}

Quantity Quantity::FromMilli(int64_t milli, Format format) {
  Quantity q;
  q.nanos_ = static_cast<Int128>(milli) * 1000000;
  q.format_ = format;
  return q;
}

std::string Quantity::String() const {
  if (nanos_ == 0) return "0";
  Format format = format_;
  if (format == Format::kBinarySI) {
    Int128 mag = nanos_ < 0 ? -nanos_ : nanos_;
    if (mag < 1024 * kNanosPerUnit || nanos_ % kNanosPerUnit != 0) {
      format = Format::kDecimalSI;  // small or fractional: avoid rounding, show decimal
    } else {
      Int128 units = nanos_ / kNanosPerUnit;
      static const char* kSuffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
      int e = 0;
      while (e < 6 && units % 1024 == 0) {
        units /= 1024;
        e++;
      }
      return Int128ToString(units) + kSuffix[e];
    }
  }
  // Decimal: strip factors of 10, then lower the exponent to a multiple of 3.
  Int128 mantissa = nanos_;
  int exponent = -9;
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    exponent++;
  }
  switch (exponent % 3) {
    case 1:
    case -2:
      mantissa *= 10;
      exponent -= 1;
      break;
    case 2:
    case -1:
      mantissa *= 100;
      exponent -= 2;
      break;
  }
  std::string number = Int128ToString(mantissa);
  if (format == Format::kDecimalExponent) {
    return exponent == 0 ? number : number + "e" + std::to_string(exponent);
  }
  static const char* kDecimal[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
  int idx = (exponent + 9) / 3;
  if (idx >= 0 && idx < 10) return number + kDecimal[idx];
  return number + "e" + std::to_string(exponent);  // unreachable within the range
}

int64_t Quantity::Value() const { return Saturate(CeilDivAbs(nanos_, kNanosPerUnit)); }

int64_t Quantity::MilliValue() const { return Saturate(CeilDivAbs(nanos_, 1000000)); }

int Quantity::Compare(const Quantity& other) const {
  return nanos_ < other.nanos_ ? -1 : (nanos_ > other.nanos_ ? 1 : 0);
}

bool Quantity::Add(const Quantity& y) {
  if (nanos_ == 0) format_ = y.format_;
  nanos_ += y.nanos_;  // both within ±kMaxNanos: no int128 overflow
  if (nanos_ > kMaxNanos) {
    nanos_ = kMaxNanos;
    return false;
  }
  if (nanos_ < -kMaxNanos) {
    nanos_ = -kMaxNanos;
    return false;
  }
  return true;
}

bool Quantity::Sub(const Quantity& y) {
  Quantity neg = y;
  neg.nanos_ = -neg.nanos_;
  return Add(neg);
}

void Quantity::RoundUpToUnits() { nanos_ = CeilDivAbs(nanos_, kNanosPerUnit) * kNanosPerUnit; }

ResourceList ParseResourceList(const Json& value) {
  ResourceList out;
  if (!value.is_object()) return out;
  for (auto it = value.begin(); it != value.end(); ++it) {
    Quantity q;
    std::string err;
    if (Quantity::FromJson(it.value(), &q, &err)) out[it.key()] = q;
  }
  return out;
}

Json ResourceListToJson(const ResourceList& list) {
  Json out = Json::object();
  for (const auto& [k, v] : list) out[k] = v.String();
  return out;
}

void CanonicalizeQuantities(Json* list) {
  if (!list->is_object()) return;
  for (auto it = list->begin(); it != list->end(); ++it) {
    Quantity q;
    std::string err;
    if (!it.value().is_null() && Quantity::FromJson(it.value(), &q, &err)) it.value() = q.String();
  }
}

}  // namespace capstan::kube
