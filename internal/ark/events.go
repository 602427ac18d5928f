package ark

// Event texts from the reference's list of service events (user guide, "What Are the Events and
// Their Types for a Service?"); xxx there is a %s or %d here.
const (
	EventDeploying        = "The service starts to deploy."
	EventUpdating         = "The service is being updated."
	EventStarting         = "The service is being started."
	EventStopping         = "The service is being stopped."
	EventStopped          = "The service has been stopped."
	EventStarted          = "Service %s started."
	EventStartFailed      = "Failed to start service %s."
	EventFailed           = "Service %s failed. Error: %s"
	EventDeployTimeout    = "Service deployment timed out. Error: %s"
	EventRolledBack       = "Failed to update the service. The update has been rolled back."
	EventRollbackFailed   = "Failed to update the service. The rollback failed."
	EventAutoStopEnabled  = "Auto stop has been enabled. The service will stop after %ds."
	EventAutoStopDisabled = "Auto stop has been disabled."
	EventAutoStopped      = "The service stops when the auto stop time expires."
	EventInstancesDeleted = "Service instances deleted from resource pool %s."
	EventDeleting         = "The service is being deleted."
)
