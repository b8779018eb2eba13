#include "activity.hpp"
