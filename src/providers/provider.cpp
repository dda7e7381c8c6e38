#include "providers/provider.h"

namespace tandem::providers {

std::string_view provider_kind_name(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kLocal:
      return "local";
    case ProviderKind::kRemote:
      return "remote";
  }
  return "unknown";
}

}  // namespace tandem::providers
