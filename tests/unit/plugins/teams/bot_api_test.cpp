#include <gtest/gtest.h>

#include "recording_host.hpp"
