#include "watch/encoded_event.h"

#include "storage/varint.h"

namespace capstan::watch {

EncodedEvent EncodedEvent::Encode(const mvccpb::Event& ev) {
  EncodedEvent e;
  e.is_put = ev.type() == mvccpb::Event::PUT;
  e.is_create = e.is_put && ev.kv().create_revision() == ev.kv().mod_revision();
  e.revision = ev.kv().mod_revision();
  e.key = ev.kv().key();
  auto bytes = std::make_shared<std::string>();
  ev.SerializeToString(bytes.get());
  e.bytes = std::move(bytes);
  return e;
}

std::shared_ptr<const std::string> EncodedEvent::WithPrevKv(const mvccpb::KeyValue& prev) const {
  auto out = std::make_shared<std::string>(*bytes);
  const std::string kv = prev.SerializeAsString();
  out->push_back(static_cast<char>((3 << 3) | 2));  // field 3 (prev_kv), length-delimited
  AppendVarint(out.get(), kv.size());
  out->append(kv);
  return out;
}

}  // namespace capstan::watch
