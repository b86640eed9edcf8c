# Compile-only probes of the libtorch API, so newer features are used where they exist and the
# build still works on Debian's libtorch 1.13. Results land in <build>/generated/torch_features.h.
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS})
set(CMAKE_REQUIRED_FLAGS "-std=c++17 ${TORCH_CXX_FLAGS}")
set(CMAKE_REQUIRED_QUIET ON)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
check_cxx_source_compiles([[
#include <ATen/ATen.h>
int probe() { auto t = at::zeros({1, 1, 2, 4}); return static_cast<int>(at::scaled_dot_product_attention(t, t, t).dim()); }
int main() { return probe(); }
]] DISCO_HAVE_SDPA)
check_cxx_source_compiles([[
#include <c10/core/CachingDeviceAllocator.h>
int probe(c10::DeviceAllocator* a) { a->resetPeakStats(0); return static_cast<int>(a->getDeviceStats(0).allocated_bytes[0].peak); }
int main() { return probe(nullptr); }
]] DISCO_HAVE_DEVICE_ALLOCATOR)
check_cxx_source_compiles([[
#include <c10/core/CachingDeviceAllocator.h>
long probe(c10::DeviceAllocator* a) { return static_cast<long>(a->getMemoryInfo(0).second); }
int main() { return static_cast<int>(probe(nullptr)); }
]] DISCO_HAVE_DEVICE_MEMORY_INFO)
unset(CMAKE_TRY_COMPILE_TARGET_TYPE)
unset(CMAKE_REQUIRED_INCLUDES)
unset(CMAKE_REQUIRED_FLAGS)
foreach(v DISCO_HAVE_SDPA DISCO_HAVE_DEVICE_ALLOCATOR DISCO_HAVE_DEVICE_MEMORY_INFO)
  if(NOT ${v})
    set(${v} 0)
  endif()
endforeach()
message(STATUS "libtorch ${Torch_VERSION}: fused attention ${DISCO_HAVE_SDPA}, allocator statistics ${DISCO_HAVE_DEVICE_ALLOCATOR}, memory info ${DISCO_HAVE_DEVICE_MEMORY_INFO}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/torch_features.h.in ${PROJECT_BINARY_DIR}/generated/torch_features.h)
