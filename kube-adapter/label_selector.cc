#include "kube-adapter/label_selector.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "kube-adapter/object_validation.h"

namespace capstan::kube {
namespace {

// The token set of apimachinery's selector lexer.
enum class Tok {
  kError,
  kEnd,
  kIdentifier,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

// In kValues context "in"/"notin" are plain identifiers (they may be keys or
// values); only the operator position reads them as keywords.
enum class Context { kKeyAndOperator, kValues };

bool IsSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::optional<Tok> SymbolToken(const std::string& s) {
  if (s == ")") return Tok::kClosedPar;
  if (s == ",") return Tok::kComma;
  if (s == "!") return Tok::kDoesNotExist;
  if (s == "==") return Tok::kDoubleEquals;
  if (s == "=") return Tok::kEquals;
  if (s == ">") return Tok::kGreaterThan;
  if (s == "<") return Tok::kLessThan;
  if (s == "!=") return Tok::kNotEquals;
  if (s == "(") return Tok::kOpenPar;
  return std::nullopt;
}

struct Item {
  Tok tok;
  std::string lit;
};

std::vector<Item> Lex(const std::string& s) {
  std::vector<Item> items;
  size_t i = 0;
  while (true) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i >= s.size()) {
      items.push_back({Tok::kEnd, ""});
      return items;
    }
    if (IsSpecial(s[i])) {
      std::string buf;
      std::optional<Tok> last;
      while (i < s.size() && IsSpecial(s[i])) {
        auto t = SymbolToken(buf + s[i]);
        if (!t) break;
        buf += s[i++];
        last = t;
      }
      if (!last) {  // cannot happen: every single special char is a token
        items.push_back({Tok::kError, std::string(1, s[i])});
        return items;
      }
      items.push_back({*last, buf});
      continue;
    }
    std::string buf;
    while (i < s.size() && !IsSpace(s[i]) && !IsSpecial(s[i])) buf += s[i++];
    items.push_back({Tok::kIdentifier, buf});
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Item> items) : items_(std::move(items)) {}

  Item Lookahead(Context c) const { return Map(items_[pos_], c); }
  Item Consume(Context c) {
    Item it = Map(items_[pos_], c);
    if (pos_ + 1 < items_.size()) ++pos_;
    return it;
  }

 private:
  static Item Map(Item it, Context c) {
    if (c == Context::kKeyAndOperator && it.tok == Tok::kIdentifier) {
      if (it.lit == "in") it.tok = Tok::kIn;
      if (it.lit == "notin") it.tok = Tok::kNotIn;
    }
    return it;
  }
  std::vector<Item> items_;
  size_t pos_ = 0;
};

// Go's %q, near enough; never throws, even on invalid UTF-8 from a URL.
std::string Quote(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

bool ParseInt64(const std::string& s, long long* out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

// apimachinery labels.NewRequirement's checks. Empty string on success.
std::string CheckRequirement(const std::string& key, LabelSelector::Op op,
                             const std::vector<std::string>& vals) {
  using Op = LabelSelector::Op;
  if (auto errs = IsQualifiedName(key); !errs.empty()) {
    return "invalid label key " + Quote(key) + ": " + Join(errs, "; ");
  }
  switch (op) {
    case Op::kIn:
    case Op::kNotIn:
      if (vals.empty()) return "for 'in', 'notin' operators, values set can't be empty";
      break;
    case Op::kEquals:
    case Op::kNotEquals:
      if (vals.size() != 1) return "exact-match compatibility requires one single value";
      break;
    case Op::kExists:
    case Op::kDoesNotExist:
      if (!vals.empty()) return "values set must be empty for exists and does not exist";
      break;
    case Op::kGreaterThan:
    case Op::kLessThan: {
      if (vals.size() != 1) return "for 'Gt', 'Lt' operators, exactly one value is required";
      long long n;
      if (!ParseInt64(vals[0], &n)) return "for 'Gt', 'Lt' operators, the value must be an integer";
      break;
    }
  }
  for (const auto& v : vals) {
    if (auto errs = IsValidLabelValue(v); !errs.empty()) {
      return "invalid label value: " + Quote(v) + ": at key: " + Quote(key) + ": " +
             Join(errs, "; ");
    }
  }
  return "";
}

// Sorted, de-duplicated, like the sets.String the Go parser collects into.
void Normalize(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

std::string ParseValues(Parser* p, std::vector<std::string>* out) {
  Item t = p->Consume(Context::kValues);
  if (t.tok != Tok::kOpenPar) return "found '" + t.lit + "' expected: '('";
  Item la = p->Lookahead(Context::kValues);
  if (la.tok == Tok::kClosedPar) {
    p->Consume(Context::kValues);
    out->push_back("");
    return "";
  }
  if (la.tok != Tok::kIdentifier && la.tok != Tok::kComma) {
    return "found '" + la.lit + "', expected: ',', ')' or identifier";
  }
  while (true) {
    Item c = p->Consume(Context::kValues);
    if (c.tok == Tok::kIdentifier) {
      out->push_back(c.lit);
      Item n = p->Lookahead(Context::kValues);
      if (n.tok == Tok::kComma) continue;
      if (n.tok == Tok::kClosedPar) break;
      return "found '" + n.lit + "', expected: ',' or ')'";
    } else if (c.tok == Tok::kComma) {
      if (out->empty()) out->push_back("");
      Item n = p->Lookahead(Context::kValues);
      if (n.tok == Tok::kClosedPar) {
        out->push_back("");
        break;
      }
      if (n.tok == Tok::kComma) {
        p->Consume(Context::kValues);
        out->push_back("");
      }
    } else {
      return "found '" + c.lit + "', expected: ',', or identifier";
    }
  }
  Item close = p->Consume(Context::kValues);
  if (close.tok != Tok::kClosedPar) return "found '" + close.lit + "', expected: ')'";
  return "";
}

std::string ParseRequirement(Parser* p, LabelSelector::Requirement* r) {
  using Op = LabelSelector::Op;
  Item t = p->Consume(Context::kValues);
  bool not_exists = false;
  if (t.tok == Tok::kDoesNotExist) {
    not_exists = true;
    t = p->Consume(Context::kValues);
  }
  if (t.tok != Tok::kIdentifier) return "found '" + t.lit + "', expected: identifier";
  if (auto errs = IsQualifiedName(t.lit); !errs.empty()) {
    return "invalid label key " + Quote(t.lit) + ": " + Join(errs, "; ");
  }
  r->key = t.lit;
  r->values.clear();
  Item la = p->Lookahead(Context::kValues);
  if (not_exists || la.tok == Tok::kEnd || la.tok == Tok::kComma) {
    r->op = not_exists ? Op::kDoesNotExist : Op::kExists;
    return CheckRequirement(r->key, r->op, r->values);
  }
  Item op = p->Consume(Context::kKeyAndOperator);
  switch (op.tok) {
    case Tok::kIn:
      r->op = Op::kIn;
      break;
    case Tok::kNotIn:
      r->op = Op::kNotIn;
      break;
    case Tok::kEquals:
    case Tok::kDoubleEquals:
      r->op = Op::kEquals;
      break;
    case Tok::kNotEquals:
      r->op = Op::kNotEquals;
      break;
    case Tok::kGreaterThan:
      r->op = Op::kGreaterThan;
      break;
    case Tok::kLessThan:
      r->op = Op::kLessThan;
      break;
    default:
      return "found '" + op.lit + "', expected: in, notin, =, ==, !=, gt, lt";
  }
  if (r->op == Op::kIn || r->op == Op::kNotIn) {
    if (auto err = ParseValues(p, &r->values); !err.empty()) return err;
  } else {
    Item v = p->Lookahead(Context::kValues);
    if (v.tok == Tok::kEnd || v.tok == Tok::kComma) {
      r->values.push_back("");
    } else {
      v = p->Consume(Context::kValues);
      if (v.tok != Tok::kIdentifier) return "found '" + v.lit + "', expected: identifier";
      r->values.push_back(v.lit);
    }
  }
  Normalize(&r->values);
  return CheckRequirement(r->key, r->op, r->values);
}

}  // namespace

std::optional<ApiError> LabelSelector::Parse(const std::string& s, LabelSelector* out) {
  LabelSelector sel;
  Parser p(Lex(s));
  while (true) {
    Item la = p.Lookahead(Context::kValues);
    if (la.tok == Tok::kEnd) break;
    if (la.tok != Tok::kIdentifier && la.tok != Tok::kDoesNotExist) {
      return ApiError::BadRequest("found '" + la.lit +
                                  "', expected: !, identifier, or 'end of string'");
    }
    Requirement r;
    if (auto err = ParseRequirement(&p, &r); !err.empty()) {
      return ApiError::BadRequest("unable to parse requirement: " + err);
    }
    sel.requirements_.push_back(std::move(r));
    Item t = p.Consume(Context::kValues);
    if (t.tok == Tok::kEnd) break;
    if (t.tok != Tok::kComma) {
      return ApiError::BadRequest("found '" + t.lit + "', expected: ',' or 'end of string'");
    }
    Item n = p.Lookahead(Context::kValues);
    if (n.tok != Tok::kIdentifier && n.tok != Tok::kDoesNotExist) {
      return ApiError::BadRequest("found '" + n.lit + "', expected: identifier after ','");
    }
  }
  *out = std::move(sel);
  return std::nullopt;
}

std::optional<ApiError> LabelSelector::FromJson(const Json& j, LabelSelector* out) {
  LabelSelector sel;
  if (j.is_null()) {
    sel.nothing_ = true;
    *out = std::move(sel);
    return std::nullopt;
  }
  if (!j.is_object()) return ApiError::BadRequest("label selector must be an object");
  if (auto ml = j.find("matchLabels"); ml != j.end() && !ml->is_null()) {
    if (!ml->is_object()) return ApiError::BadRequest("matchLabels must be an object");
    for (const auto& [k, v] : ml->items()) {
      if (!v.is_string()) return ApiError::BadRequest("matchLabels values must be strings");
      Requirement r{k, Op::kEquals, {v.get<std::string>()}};
      if (auto err = CheckRequirement(r.key, r.op, r.values); !err.empty()) {
        return ApiError::BadRequest(err);
      }
      sel.requirements_.push_back(std::move(r));
    }
  }
  if (auto me = j.find("matchExpressions"); me != j.end() && !me->is_null()) {
    if (!me->is_array()) return ApiError::BadRequest("matchExpressions must be a list");
    for (const auto& e : *me) {
      if (!e.is_object()) return ApiError::BadRequest("matchExpressions items must be objects");
      Requirement r;
      auto str = [&e](const char* k) {
        auto it = e.find(k);
        return (it != e.end() && it->is_string()) ? it->get<std::string>() : std::string();
      };
      r.key = str("key");
      std::string op = str("operator");
      if (op == "In") {
        r.op = Op::kIn;
      } else if (op == "NotIn") {
        r.op = Op::kNotIn;
      } else if (op == "Exists") {
        r.op = Op::kExists;
      } else if (op == "DoesNotExist") {
        r.op = Op::kDoesNotExist;
      } else {
        return ApiError::BadRequest(Quote(op) + " is not a valid pod selector operator");
      }
      if (auto vs = e.find("values"); vs != e.end() && vs->is_array()) {
        for (const auto& v : *vs) {
          if (v.is_string()) r.values.push_back(v.get<std::string>());
        }
      }
      Normalize(&r.values);
      if (auto err = CheckRequirement(r.key, r.op, r.values); !err.empty()) {
        return ApiError::BadRequest(err);
      }
      sel.requirements_.push_back(std::move(r));
    }
  }
  *out = std::move(sel);
  return std::nullopt;
}

bool LabelSelector::Matches(const Json& labels) const {
  if (nothing_) return false;
  for (const auto& r : requirements_) {
    const std::string* value = nullptr;
    std::string holder;
    if (labels.is_object()) {
      auto it = labels.find(r.key);
      if (it != labels.end() && it->is_string()) {
        holder = it->get<std::string>();
        value = &holder;
      }
    }
    auto in_values = [&] {
      return value != nullptr &&
             std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    };
    bool ok = false;
    switch (r.op) {
      case Op::kIn:
      case Op::kEquals:
        ok = in_values();
        break;
      case Op::kNotIn:
      case Op::kNotEquals:
        ok = !in_values();
        break;
      case Op::kExists:
        ok = value != nullptr;
        break;
      case Op::kDoesNotExist:
        ok = value == nullptr;
        break;
      case Op::kGreaterThan:
      case Op::kLessThan: {
        long long have, want;
        if (value == nullptr || !ParseInt64(*value, &have) || !ParseInt64(r.values[0], &want)) {
          ok = false;
        } else {
          ok = r.op == Op::kGreaterThan ? have > want : have < want;
        }
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace capstan::kube
