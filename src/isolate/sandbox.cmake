# The plugin host's sandbox (sandbox.c): Landlock through its system calls, seccomp through
# libseccomp (libseccomp-dev).
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
target_sources(temblor_runtime PRIVATE ${CMAKE_CURRENT_LIST_DIR}/sandbox.c)
target_link_libraries(temblor_runtime PUBLIC PkgConfig::SECCOMP)
