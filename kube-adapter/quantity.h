// Quantity: Kubernetes' resource.Quantity (apimachinery api/resource/quantity.go)
// with exact arithmetic. Admission decisions (LimitRange, ResourceQuota) and the
// messages they produce depend on exact values and on the canonical string form,
// so this never uses floating point.
//
// Representation: a signed count of nano-units in a 128-bit integer. Kubernetes'
// precision is 10^-9 (finer values round up, away from zero), so nanos are exact.
// Magnitudes are limited to 2^63-1 whole units: binary (Ki..Ei) inputs above that
// are capped like Kubernetes does; decimal inputs above it are refused (Kubernetes
// would keep them as an arbitrary-precision decimal; no real resource gets there).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "kube-adapter/json.h"

namespace capstan::kube {

class Quantity {
 public:
  // How String() renders the value (Kubernetes keeps the suffix family of the input).
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  // Zero, DecimalSI.
  Quantity() = default;

  // Parses "<sign><digits>[.<digits>]<suffix>". On failure returns false and sets
  // *error to Kubernetes' wording (ErrFormatWrong / ErrSuffix / ErrNumeric).
  static bool Parse(std::string_view text, Quantity* out, std::string* error);
  // Accepts a JSON string or a JSON number (kubectl sends `cpu: 0.1` as a number;
  // Kubernetes parses the number's text like a string). null is zero.
  static bool FromJson(const Json& value, Quantity* out, std::string* error);
  // Convenience for literals that are known to be valid (tests, built-ins):
  // an unparsable text yields zero.
  static Quantity MustParse(std::string_view text);

  static Quantity FromValue(int64_t value, Format format = Format::kDecimalSI);
  static Quantity FromMilli(int64_t milli, Format format = Format::kDecimalSI);

  // Canonical text, exactly as Kubernetes' Quantity.String().
  std::string String() const;
  Json ToJson() const { return Json(String()); }

  // Whole units / thousandths, rounded away from zero; saturate at int64 bounds.
  int64_t Value() const;
  int64_t MilliValue() const;

  // -1, 0 or 1, exact.
  int Compare(const Quantity& other) const;
  bool operator==(const Quantity& o) const { return Compare(o) == 0; }
  bool operator<(const Quantity& o) const { return Compare(o) < 0; }

  // q += y / q -= y. Like Kubernetes, a zero receiver takes y's format. Returns
  // false (and saturates) if the result leaves the representable range.
  bool Add(const Quantity& y);
  bool Sub(const Quantity& y);

  // Rounds up (away from zero) to a whole number of units (Kubernetes RoundUp(0)).
  void RoundUpToUnits();

  bool IsZero() const { return nanos_ == 0; }
  int Sign() const { return nanos_ < 0 ? -1 : (nanos_ > 0 ? 1 : 0); }
  Format format() const { return format_; }
  void set_format(Format f) { format_ = f; }

 private:
  __int128 nanos_ = 0;
  Format format_ = Format::kDecimalSI;
};

// A resource list ("cpu" -> 100m), sorted by name as Kubernetes prints them.
using ResourceList = std::map<std::string, Quantity>;

// Reads a JSON object of quantities. Entries that are not valid quantities are
// skipped (validation reports them elsewhere); a non-object yields an empty list.
ResourceList ParseResourceList(const Json& value);
// Renders a resource list as a JSON object of canonical strings.
Json ResourceListToJson(const ResourceList& list);

// Rewrites every valid quantity (string or number) in a JSON object as its
// canonical string, as Kubernetes' decode/encode round trip stores it
// (`cpu: 0.1` is served back as "100m"). Invalid entries are left for validation.
void CanonicalizeQuantities(Json* list);

}  // namespace capstan::kube
