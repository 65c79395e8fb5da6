// libsd35spm.so: Debian's libsentencepiece behind a plain C boundary, loaded by text/t5_tokenizer
// with dlopen(RTLD_LOCAL) only when a prompt is tokenized.
//
// Why not link it into sd35-setup: libsentencepiece.so.0 carries (and exports) its own builtin
// protobuf 3.14, Debian's libtorch loads the system libprotobuf 3.21, and the two in one global
// symbol scope crash at the smoke plugin's dlopen (protobuf's static initialisers bind to the
// other copy). Kept out of the global scope, each library uses its own.
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

void copy_message(const std::string& text, char* out, int size) {
  if (out == nullptr || size <= 0) return;
  std::strncpy(out, text.c_str(), static_cast<std::size_t>(size) - 1);
  out[size - 1] = '\0';
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* sd35_spm_load(const char* path, char* error,
                                                           int error_size) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->Load(path);
  if (!status.ok()) {
    copy_message(status.ToString(), error, error_size);
    delete sp;
    return nullptr;
  }
  return sp;
}

__attribute__((visibility("default"))) int sd35_spm_eos_id(void* model) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(model)->eos_id();
}

__attribute__((visibility("default"))) int sd35_spm_pad_id(void* model) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(model)->pad_id();
}

// Writes at most `capacity` ids; returns how many the text has (more than capacity: call again
// with a bigger buffer), or -1 when encoding failed.
__attribute__((visibility("default"))) int sd35_spm_encode(void* model, const char* text, int* ids,
                                                           int capacity) {
  std::vector<int> pieces;
  if (!static_cast<sentencepiece::SentencePieceProcessor*>(model)->Encode(text, &pieces).ok())
    return -1;
  for (int i = 0; i < static_cast<int>(pieces.size()) && i < capacity; ++i) ids[i] = pieces[i];
  return static_cast<int>(pieces.size());
}

__attribute__((visibility("default"))) void sd35_spm_free(void* model) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(model);
}

}  // extern "C"
