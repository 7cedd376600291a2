// The qflow SDK: include this one header to write node plugins.
#pragma once

#include <qflow/abi.h>
#include <qflow/events.hpp>
#include <qflow/indicator.hpp>
#include <qflow/node.hpp>
#include <qflow/spec.hpp>
#include <qflow/state.hpp>
#include <qflow/symbol_states.hpp>
#include <qflow/time.hpp>
