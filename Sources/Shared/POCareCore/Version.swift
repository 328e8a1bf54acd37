/// The software version reported in logs, the audit trail and (later) the status topic.
public enum POCareVersion {
    public static let current = "0.1.0"
}
