// Kubernetes quantities (kube-adapter/quantity.h): two texts from the input
// (split at the first '\n'), parsed, printed, compared and added.
//
// Properties: no crash, leak or undefined behaviour (the 128-bit arithmetic
// must not overflow); the canonical text parses back to an equal quantity
// whose own canonical text is a fixed point (as in Kubernetes, a bare
// binary-SI text re-parses as decimal SI); Compare is antisymmetric; Add then Sub
// gives the first value back when neither saturated.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_input.h"
#include "kube-adapter/json.h"
#include "kube-adapter/quantity.h"

using capstan::fuzz::Fail;
using capstan::kube::Json;
using capstan::kube::Quantity;

namespace {

void CheckCanonical(const Quantity& q) {
  const std::string text = q.String();
  Quantity back;
  std::string error;
  if (!Quantity::Parse(text, &back, &error)) Fail("a canonical quantity text does not parse");
  if (back.Compare(q) != 0) Fail("a canonical quantity text parses to another value");
  // Not back.String() == text: as in Kubernetes, a binary-SI value with no
  // whole binary suffix prints bare ("11259000"), and bare digits parse as
  // decimal SI ("11259k"). One round reaches the fixed point.
  Quantity again;
  if (!Quantity::Parse(back.String(), &again, &error) || again.String() != back.String()) {
    Fail("a re-parsed canonical quantity text is not canonical");
  }
  (void)q.Value();
  (void)q.MilliValue();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto [a_text, b_text] = capstan::fuzz::SplitAt(input, "\n");
  Quantity a, b;
  std::string error;
  const bool a_ok = Quantity::Parse(a_text, &a, &error);
  const bool b_ok = Quantity::Parse(b_text, &b, &error);
  // The JSON form takes the same text, or a number.
  Quantity j;
  (void)Quantity::FromJson(Json(std::string(a_text)), &j, &error);
  Json number = Json::parse(a_text, nullptr, false);
  if (!number.is_discarded()) (void)Quantity::FromJson(number, &j, &error);
  if (!a_ok) return 0;
  CheckCanonical(a);
  Quantity rounded = a;
  rounded.RoundUpToUnits();
  CheckCanonical(rounded);
  if (!b_ok) return 0;
  CheckCanonical(b);
  if (a.Compare(b) != -b.Compare(a)) Fail("Compare is not antisymmetric");
  Quantity sum = a;
  if (sum.Add(b)) {
    CheckCanonical(sum);
    Quantity diff = sum;
    if (diff.Sub(b) && diff.Compare(a) != 0) Fail("(a + b) - b != a");
  }
  return 0;
}
