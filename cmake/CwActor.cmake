# cw_add_actor: one actor's build, the same for every actors/<name>/ folder.
#
#   cw_add_actor(NAME [SOURCES_DIRS dir...] [INCLUDE_DIRS dir...])
#
# Builds cw_<NAME>_lib, a static library of every .c of the actor except
# main.c (an INTERFACE library when the actor has no other source), which the
# tests and benchmarks link; and causeway-<NAME> from main.c, installed to
# sbindir beside causewayd (which finds its actors there). Sources are
# globbed with CONFIGURE_DEPENDS, so adding, moving or removing a .c needs
# no edit here. The actor's own folder is globbed (not
# its subfolders), and each SOURCES_DIRS folder (relative to actors/<NAME>/)
# recursively. INCLUDE_DIRS (relative to actors/<NAME>/) are PUBLIC include
# directories of the library; the actor's own folder always is one.
include_guard(GLOBAL)

function(cw_add_actor name)
  cmake_parse_arguments(PARSE_ARGV 1 CW "" "" "SOURCES_DIRS;INCLUDE_DIRS")
  if(CW_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "cw_add_actor(${name}): unknown arguments ${CW_UNPARSED_ARGUMENTS}")
  endif()
  set(dir ${PROJECT_SOURCE_DIR}/actors/${name})
  set(lib cw_${name}_lib)

  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.c)
  foreach(sub ${CW_SOURCES_DIRS})
    if(NOT IS_DIRECTORY ${dir}/${sub})
      message(FATAL_ERROR "cw_add_actor(${name}): no folder actors/${name}/${sub}")
    endif()
    file(GLOB_RECURSE found CONFIGURE_DEPENDS ${dir}/${sub}/*.c)
    list(APPEND sources ${found})
  endforeach()
  list(REMOVE_ITEM sources ${dir}/main.c)

  set(includes ${dir})
  foreach(sub ${CW_INCLUDE_DIRS})
    list(APPEND includes ${dir}/${sub})
  endforeach()

  if(sources)
    add_library(${lib} STATIC ${sources})
    target_include_directories(${lib} PUBLIC ${includes})
    target_link_libraries(${lib} PUBLIC causeway_ipc)
  else()
    add_library(${lib} INTERFACE)
    target_include_directories(${lib} INTERFACE ${includes})
    target_link_libraries(${lib} INTERFACE causeway_ipc)
  endif()

  if(EXISTS ${dir}/main.c)
    add_executable(causeway-${name} ${dir}/main.c)
    target_link_libraries(causeway-${name} PRIVATE ${lib})
    install(TARGETS causeway-${name} DESTINATION ${CMAKE_INSTALL_SBINDIR})
  endif()
endfunction()
