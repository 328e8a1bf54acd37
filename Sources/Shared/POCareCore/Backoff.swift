/// Exponential backoff with "equal jitter": half the delay fixed, half random, so that many
/// clients that lost one peer together (pollers behind one gateway, sites behind one broker)
/// do not come back in lock-step. Doubles from the range's lower bound up to its upper bound;
/// returns nanoseconds.
public func reconnectDelay(afterFailures failures: Int, within range: ClosedRange<Duration>) -> Int64 {
    let lower = range.lowerBound.nanoseconds
    let upper = range.upperBound.nanoseconds
    let exponential = min(upper, lower << min(max(failures - 1, 0), 30))
    return exponential / 2 + Int64.random(in: 0...max(exponential / 2, 1))
}
