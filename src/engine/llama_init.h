// One-time llama.cpp start-up shared by every engine component: initialises the backend and routes
// llama.cpp's and ggml's own log lines into TANDEM_LOG (component "llama", debug level).
//
//   ensure_llama_backend();  // before the first llama_model_load_from_file
//
// Thread-safety: safe to call from any thread, any number of times; the work happens once.
#pragma once

namespace tandem::engine {

void ensure_llama_backend();

}  // namespace tandem::engine
