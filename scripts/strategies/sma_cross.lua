-- sma_cross.lua: long-only moving-average crossover. It follows the same rule as the native
-- crossover strategy and is the file to read first when writing your own.
--
-- Wiring (see pipelines/sma_cross.yaml): the node's inputs are the bars plus two averages,
-- read here by the ids of the nodes that compute them, `fast` and `slow`:
--
--   - id: strategy
--     type: lua
--     inputs: [bars, fast, slow]
--     params:
--       script: ../scripts/strategies/sma_cross.lua   # relative to the pipeline file
--       size: 100
--
-- The rule, checked on every bar once both averages have a value:
--   diff = fast - slow
--   cross up:   diff > 0 and the last non-zero diff before this bar was negative
--   cross down: diff < 0 and the last non-zero diff before this bar was positive
--   flat, no order pending, cross up    -> buy `size`
--   long, no order pending, cross down  -> sell the whole position
-- A bar where the averages are equal (diff == 0) neither crosses nor resets the memory.
-- A market order decided on bar t fills at the open of bar t+1 (the executor's convention),
-- so the fill arrives before the next bar does.

-- Parameters this script accepts in the pipeline, with their defaults. The host validates them
-- and, from here on, `params.size` is the value the pipeline chose.
params = {
  size = { type = "number", default = 100, min = 0, doc = "quantity bought on each cross up (> 0)" },
}

-- Everything that must survive a checkpoint lives in `state` (saved and restored by the host,
-- together with positions and cash).
state = {
  last_diff = 0,   -- the last non-zero fast - slow; 0 until the averages first differ
  pending = false, -- an order is out and not yet filled, rejected, cancelled or expired
}

function on_start()
  if params.size <= 0 then
    error("size must be greater than 0, got " .. params.size)
  end
end

function on_bar(bar)
  local fast, slow = value("fast"), value("slow")
  if fast == nil or slow == nil then
    return -- the averages are still warming up
  end

  local diff = fast - slow
  local last = state.last_diff

  if not state.pending then
    local held = position()
    if held == 0 and diff > 0 and last < 0 then
      buy(params.size)
      state.pending = true
    elseif held > 0 and diff < 0 and last > 0 then
      sell(held)
      state.pending = true
    end
  end

  if diff ~= 0 then
    state.last_diff = diff
  end
end

-- The order is done with once it is filled, rejected, cancelled or expired; position()
-- already reflects any fill.
local finished = { filled = true, rejected = true, cancelled = true, expired = true }

function on_order(update)
  if finished[update.status] then
    state.pending = false
  end
end
