#include <haveri/core/outbox.hpp>
