# Sources that never see a libtorch header compile without the shared precompiled header: loading
# its ~600 MB costs more than such a file's whole compile (measured: 31 s against 2 s for
# io/sha256.cpp on the 2-core CI machine).

# TRUE in `out` when `file`, or a header of this repository it includes (followed through),
# includes <torch/...>, <ATen/...> or <c10/...>. Headers not found here (system, generated) count
# as torch-free.
function(disco_needs_torch file out)
  set(seen "")
  set(queue "${file}")
  while(queue)
    list(POP_FRONT queue f)
    if(f IN_LIST seen)
      continue()
    endif()
    list(APPEND seen "${f}")
    get_filename_component(dir "${f}" DIRECTORY)
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
    foreach(line IN LISTS lines)
      if(line MATCHES "<(torch|ATen|c10)/")
        set(${out} TRUE PARENT_SCOPE)
        return()
      endif()
      if(line MATCHES "\"([^\"]+)\"")
        set(inc "${CMAKE_MATCH_1}")
        foreach(root "${dir}" "${PROJECT_SOURCE_DIR}/src" "${PROJECT_SOURCE_DIR}/tests" "${PROJECT_SOURCE_DIR}")
          if(EXISTS "${root}/${inc}")
            list(APPEND queue "${root}/${inc}")
            break()
          endif()
        endforeach()
      endif()
    endforeach()
  endwhile()
  set(${out} FALSE PARENT_SCOPE)
endfunction()

# Marks the torch-free sources of `target` to skip the precompiled header.
function(disco_skip_pch_where_torch_free target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  foreach(src IN LISTS sources)
    get_filename_component(path "${src}" ABSOLUTE BASE_DIR "${source_dir}")
    if(NOT path MATCHES "\\.(cpp|cc)$")
      continue()
    endif()
    disco_needs_torch("${path}" needs)
    if(NOT needs)
      # Outside the unity batches too: a batch shares one precompiled header.
      set_source_files_properties("${src}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
  endforeach()
endfunction()
