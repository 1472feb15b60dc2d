#include "kube-adapter/json_parse.h"

#include <exception>
#include <memory>
#include <unordered_map>
#include <vector>

namespace capstan::kube {
namespace {

// A SAX handler that builds the document (as nlohmann's own DOM builder
// does) while counting open containers; the parse stops at the first one
// past the limit. It also keeps building wide objects linear: the ordered
// object type finds a key by a linear scan, so inserting n keys one by one
// costs n^2/2 string compares (a 3 MiB body of short keys: minutes of CPU).
// Once an object has more than kIndexFrom keys, its keys are indexed in a
// hash table while it is being built; a repeated key keeps its first place
// and takes the last value, as operator[] would have done.
class BoundedDomBuilder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  BoundedDomBuilder(Json* root, int max_depth) : root_(*root), max_depth_(max_depth) {}

  bool null() { return Value(nullptr); }
  bool boolean(bool v) { return Value(v); }
  bool number_integer(number_integer_t v) { return Value(v); }
  bool number_unsigned(number_unsigned_t v) { return Value(v); }
  bool number_float(number_float_t v, const string_t&) { return Value(v); }
  bool string(string_t& v) { return Value(std::move(v)); }
  bool binary(binary_t& v) { return Value(Json::binary(std::move(v))); }

  bool start_object(std::size_t) { return Open('{', Json::value_t::object); }
  bool start_array(std::size_t) { return Open('[', Json::value_t::array); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(string_t& k) {
    Level& top = stack_.back();
    auto& object = top.container->get_ref<Json::object_t&>();
    using Entries = Json::object_t::Container;
    if (!top.index && object.size() < kIndexFrom) {
      element_ = &object[k];
      return true;
    }
    if (!top.index) {
      top.index = std::make_unique<std::unordered_map<std::string, size_t>>();
      for (size_t i = 0; i < object.size(); ++i) top.index->emplace(object.begin()[i].first, i);
    }
    auto [it, inserted] = top.index->try_emplace(k, object.size());
    if (inserted) {
      object.Entries::emplace_back(std::move(k), Json());
      element_ = &object.Entries::back().second;
    } else {
      element_ = &object.begin()[it->second].second;
    }
    return true;
  }

  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& ex) {
    syntax_error_ = ex.what();
    return false;
  }

  bool too_deep() const { return too_deep_; }
  char opener() const { return opener_; }
  const std::string& syntax_error() const { return syntax_error_; }

 private:
  static constexpr size_t kIndexFrom = 32;

  struct Level {
    Json* container;
    std::unique_ptr<std::unordered_map<std::string, size_t>> index;  // wide objects only
  };

  // Places a value where the parse is: the root, the next array element, or
  // the value of the key just read.
  template <class V>
  Json* Place(V&& v) {
    if (stack_.empty()) {
      root_ = Json(std::forward<V>(v));
      return &root_;
    }
    Json* top = stack_.back().container;
    if (top->is_array()) {
      auto& array = top->get_ref<Json::array_t&>();
      array.emplace_back(std::forward<V>(v));
      return &array.back();
    }
    *element_ = Json(std::forward<V>(v));
    return element_;
  }

  template <class V>
  bool Value(V&& v) {
    Place(std::forward<V>(v));
    return true;
  }

  bool Open(char c, Json::value_t type) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      too_deep_ = true;
      opener_ = c;
      return false;
    }
    stack_.push_back(Level{Place(type), nullptr});
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  Json& root_;
  int max_depth_;
  std::vector<Level> stack_;
  Json* element_ = nullptr;
  bool too_deep_ = false;
  char opener_ = '{';
  std::string syntax_error_;  // nlohmann's description
};

}  // namespace

bool ParseJsonBounded(std::string_view text, Json* out, JsonParseError* error, int max_depth) {
  Json root;
  BoundedDomBuilder builder(&root, max_depth);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const std::exception&) {
    ok = false;  // e.g. an allocation failure: a refusal, never a crash
  }
  if (ok) {
    *out = std::move(root);
    return true;
  }
  *out = Json();
  if (error != nullptr) {
    error->too_deep = builder.too_deep();
    if (builder.too_deep()) {
      error->message =
          std::string("invalid character '") + builder.opener() + "' exceeded max depth";
    } else {
      error->message = builder.syntax_error().empty() ? "invalid JSON" : builder.syntax_error();
    }
  }
  return false;
}

std::string SummarizeBody(std::string_view body, size_t max_length) {
  if (body.empty()) return "<empty>";
  const bool cut = body.size() > max_length;
  std::string_view head = body.substr(0, max_length);
  std::string out;
  if (body.front() == '{') {
    out = std::string(head);
  } else {
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned char c : head) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (cut) out += " ...";
  return out;
}

}  // namespace capstan::kube
